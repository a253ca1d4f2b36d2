//! `builder matrix` and `builder run --variant`, run as a user runs them;
//! the documents `--emit` writes are checked against the official schemas
//! (`tests/fixtures/schemas/`, see its README).

use std::path::Path;

mod common;
use common::{builder, fixtures, plugin_cache, stderr, stdout};

use serde_json::Value;

/// `builder ARGS`, which must succeed; its standard output.
fn ok(args: &[&str]) -> String {
    let cache = tempfile::tempdir().unwrap();
    let out = builder(cache.path(), args);
    assert!(out.status.success(), "builder {args:?}: {}", stderr(&out));
    stdout(&out)
}

/// `builder ARGS`, which must fail; its standard error.
fn fails(args: &[&str]) -> String {
    let cache = tempfile::tempdir().unwrap();
    let out = builder(cache.path(), args);
    assert!(
        !out.status.success(),
        "builder {args:?} succeeded: {}",
        stdout(&out)
    );
    stderr(&out)
}

const HEAD: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<image schemaversion="8.5" name="NAME">
  <description type="system">
    <author>Ops</author>
    <contact>ops@example.org</contact>
    <specification>a fleet</specification>
  </description>"#;

/// `fleet/`: `base` (no type), `tarball` and `debug` (tbz; `debug` adds
/// gdb), `disk` (oem, requiring `base`); `plain/`: no profiles, tbz.
/// Four variants; `tarball` and `disk` install the same packages.
fn descriptions() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let fleet = format!(
        r#"{}
  <profiles>
    <profile name="base" description="what every image has"/>
    <profile name="tarball" description="a root tarball"/>
    <profile name="debug" description="a root tarball with debuggers"/>
    <profile name="disk" description="a disk"><requires profile="base"/></profile>
  </profiles>
  <preferences>
    <version>1.0.0</version>
    <packagemanager>apt</packagemanager>
  </preferences>
  <preferences profiles="tarball"><type image="tbz"/></preferences>
  <preferences profiles="debug"><type image="tbz"/></preferences>
  <preferences profiles="disk"><type image="oem" format="qcow2" filesystem="ext4" firmware="efi"/></preferences>
  <repository type="apt-deb"><source path="file:///srv/debian"/></repository>
  <packages type="bootstrap"><package name="apt"/></packages>
  <packages type="image" profiles="debug"><package name="gdb"/></packages>
</image>
"#,
        HEAD.replace("NAME", "fleet")
    );
    let plain = format!(
        r#"{}
  <preferences>
    <version>1.0.0</version>
    <packagemanager>apt</packagemanager>
    <type image="tbz"/>
  </preferences>
  <repository type="apt-deb"><source path="file:///srv/debian"/></repository>
  <packages type="bootstrap"><package name="apt"/><package name="ca-certificates"/></packages>
</image>
"#,
        HEAD.replace("NAME", "plain")
    );
    for (name, text) in [("fleet", fleet), ("plain", plain)] {
        std::fs::create_dir(dir.path().join(name)).unwrap();
        std::fs::write(dir.path().join(name).join("config.xml"), text).unwrap();
    }
    dir
}

fn paths(dir: &Path) -> (String, String) {
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    (path("fleet"), path("plain"))
}

/// The schema `tests/fixtures/schemas/NAME`, compiled.
fn schema(name: &str) -> jsonschema::Validator {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/schemas")
        .join(name);
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Each schema error of `document`, with where it is.
fn schema_errors(validator: &jsonschema::Validator, document: &Value) -> Vec<String> {
    validator
        .iter_errors(document)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn assert_valid(validator: &jsonschema::Validator, document: &Value, text: &str) {
    let errors = schema_errors(validator, document);
    assert!(errors.is_empty(), "{errors:#?}\n{text}");
}

/// The YAML `text` as JSON data.
fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The GitLab jobs of `pipeline`: every top-level key but the keywords.
fn gitlab_jobs(pipeline: &Value) -> Vec<(String, Value)> {
    let keywords = ["stages", "default", "include", "variables", "workflow"];
    pipeline
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !keywords.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[test]
fn list_prints_each_variant_with_its_index() {
    let dir = descriptions();
    let (fleet, plain) = paths(dir.path());
    let text = ok(&["matrix", &fleet, &plain, "--list"]);
    assert_eq!(
        text,
        format!(
            "0  {fleet}  tarball  tbz\n\
             1  {fleet}  debug  tbz\n\
             2  {fleet}  disk  oem (qcow2)\n\
             3  {plain}  -  tbz\n"
        )
    );
    let json: Value =
        serde_json::from_str(&ok(&["matrix", &fleet, &plain, "--list", "--json"])).unwrap();
    let list = json.as_array().unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(list[2]["index"], 2);
    assert_eq!(list[2]["description"], fleet.as_str());
    assert_eq!(list[2]["profiles"], serde_json::json!(["disk"]));
    assert_eq!(
        list[2]["profiles_in_effect"],
        serde_json::json!(["disk", "base"])
    );
    assert_eq!(
        list[2]["type"],
        serde_json::json!({"image": "oem", "format": "qcow2"})
    );
    assert_eq!(list[3]["profiles"], serde_json::json!([]));
    // same packages, same root; gdb, or another bootstrap set, another
    assert_eq!(list[0]["root"], list[2]["root"]);
    assert_ne!(list[0]["root"], list[1]["root"]);
    assert_ne!(list[0]["root"], list[3]["root"]);

    // filters
    let text = ok(&[
        "matrix",
        &fleet,
        &plain,
        "--list",
        "--profile",
        "disk",
        "--profile",
        "debug",
    ]);
    assert_eq!(
        text,
        format!("0  {fleet}  debug  tbz\n1  {fleet}  disk  oem (qcow2)\n")
    );
    let text = ok(&["matrix", &fleet, &plain, "--list", "--type", "oem"]);
    assert!(
        text.starts_with(&format!("0  {fleet}  disk  oem (qcow2)\n")),
        "{text}"
    );

    // bad input is named
    let err = fails(&["matrix", &fleet, "--list", "--profile", "dsik"]);
    assert!(
        err.contains("--profile dsik: no description declares it for")
            && err.contains("fleet/config.xml: base, tarball, debug, disk"),
        "{err}"
    );
    let err = fails(&["matrix", &fleet, "--list", "--type", "iso"]);
    assert!(
        err.contains("fleet/config.xml: no variant can be built: profile base:"),
        "{err}"
    );
    let err = fails(&["matrix", &fleet]);
    assert!(err.contains("--list") && err.contains("--emit"), "{err}");
}

#[test]
fn gitlab_pipeline_is_valid_and_each_root_is_warmed_once() {
    let dir = descriptions();
    let (fleet, plain) = paths(dir.path());
    let text = ok(&[
        "--include-root",
        dir.path().to_str().unwrap(),
        "matrix",
        &fleet,
        &plain,
        "--emit",
        "gitlab",
    ]);
    let pipeline = yaml(&text);
    let validator = schema("gitlab-ci.json");
    assert_valid(&validator, &pipeline, &text);
    // the check bites: a misspelt keyword is refused
    let mut broken = pipeline.clone();
    let first = gitlab_jobs(&pipeline)[0].0.clone();
    let job = broken[&first].as_object_mut().unwrap();
    let script = job.remove("script").unwrap();
    job.insert("scripts".into(), script);
    assert!(!schema_errors(&validator, &broken).is_empty());

    let jobs = gitlab_jobs(&pipeline);
    let names: Vec<&str> = jobs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "0-fleet-tarball-tbz",
            "1-fleet-debug-tbz",
            "2-fleet-disk-oem",
            "3-plain-tbz"
        ]
    );
    let group = |i: usize| jobs[i].1["resource_group"].as_str().unwrap().to_string();
    assert_eq!(group(0), group(2));
    assert_ne!(group(0), group(1));
    assert_ne!(group(0), group(3));
    assert_eq!(jobs[0].1["needs"], serde_json::json!([]));
    assert_eq!(jobs[1].1["needs"], serde_json::json!([]));
    assert_eq!(
        jobs[2].1["needs"],
        serde_json::json!([{"job": "0-fleet-tarball-tbz", "artifacts": false}])
    );
    assert_eq!(
        jobs[2].1["artifacts"]["paths"],
        serde_json::json!(["images/2-fleet-disk-oem"])
    );

    // each job's command, run as `builder plan`, selects its variant
    let expected = [
        ("tarball", "tbz"),
        ("debug", "tbz"),
        ("disk", "oem"),
        ("", "tbz"),
    ];
    for ((name, job), (profile, image)) in jobs.iter().zip(expected) {
        let script = job["script"][0].as_str().unwrap();
        let words: Vec<&str> = script.split_whitespace().collect();
        let run = words.iter().position(|w| *w == "run").unwrap();
        let target = words.iter().position(|w| *w == "--target-dir").unwrap();
        assert_eq!(
            words[..run],
            ["builder", "--include-root", dir.path().to_str().unwrap()]
        );
        assert_eq!(words[target + 1], format!("images/{name}"));
        let mut args = vec!["plan", "--json"];
        args.extend(&words[run + 1..target]);
        let out = builder(plugin_cache().path(), &args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(plan["type"]["image"], image, "{name}");
        let profiles = plan["profiles"].as_array().unwrap();
        assert_eq!(
            profiles.first().and_then(Value::as_str).unwrap_or(""),
            profile,
            "{name}"
        );
    }
}

#[test]
fn github_workflow_is_valid_with_one_matrix_entry_per_variant() {
    let dir = descriptions();
    let (fleet, plain) = paths(dir.path());
    let text = ok(&["matrix", &fleet, &plain, "--emit", "github"]);
    let workflow = yaml(&text);
    let validator = schema("github-workflow.json");
    assert_valid(&validator, &workflow, &text);
    let mut broken = workflow.clone();
    broken["jobs"]["build"]
        .as_object_mut()
        .unwrap()
        .remove("runs-on");
    assert!(!schema_errors(&validator, &broken).is_empty());

    let job = &workflow["jobs"]["build"];
    assert_eq!(job["strategy"]["fail-fast"], false);
    let include = job["strategy"]["matrix"]["include"].as_array().unwrap();
    assert_eq!(include.len(), 4);
    assert_eq!(include[2]["name"], "2-fleet-disk-oem");
    assert_eq!(
        include[2]["command"],
        format!(
            "builder run {fleet} --profile disk --type oem --target-dir images/2-fleet-disk-oem"
        )
    );
    let steps = job["steps"].as_array().unwrap();
    assert_eq!(steps[1]["run"], "${{ matrix.command }}");
    assert_eq!(steps[2]["uses"], "actions/upload-artifact@v4");
    assert_eq!(steps[2]["with"]["path"], "${{ matrix.artifacts }}");
}

#[test]
fn kubernetes_job_is_valid_and_each_index_builds_its_variant() {
    let dir = descriptions();
    let (fleet, plain) = paths(dir.path());
    let text = ok(&[
        "matrix",
        &fleet,
        &plain,
        "--emit",
        "kubernetes",
        "--image",
        "fleet/builder:1.0",
    ]);
    let job = yaml(&text);
    let validator = schema("job-batch-v1.json");
    assert_valid(&validator, &job, &text);
    // strict: an unknown field is refused
    let mut broken = job.clone();
    broken["spec"]["completion"] = 1.into();
    assert!(!schema_errors(&validator, &broken).is_empty());

    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["completions"], 4);
    // three distinct prepared roots
    assert_eq!(spec["parallelism"], 3);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert!(pod.get("hostNetwork").is_none() && pod.get("hostPID").is_none());
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "fleet/builder:1.0");
    assert_eq!(
        container["securityContext"],
        serde_json::json!({"privileged": true, "runAsUser": 0})
    );
    assert!(
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v.get("hostPath").is_none()),
        "{pod}"
    );
    let command: Vec<&str> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(
        command,
        [
            "builder",
            "run",
            &fleet,
            &plain,
            "--variant",
            "$(JOB_COMPLETION_INDEX)",
            "--target-dir",
            "/var/lib/builder/images/$(JOB_COMPLETION_INDEX)"
        ]
    );
    // The pod's command, with an index past the end: refused, naming the count.
    let args: Vec<String> = command[1..]
        .iter()
        .map(|w| w.replace("$(JOB_COMPLETION_INDEX)", "4"))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = fails(&args);
    assert!(
        err.contains("--variant 4: the descriptions have 4 variant(s), numbered 0 to 3"),
        "{err}"
    );
}

#[test]
fn output_writes_the_document_to_a_file() {
    let dir = descriptions();
    let (fleet, _) = paths(dir.path());
    let file = dir.path().join("child-pipeline.yml");
    let printed = ok(&["matrix", &fleet, "--emit", "gitlab"]);
    assert_eq!(
        ok(&[
            "matrix",
            &fleet,
            "--emit",
            "gitlab",
            "--output",
            file.to_str().unwrap()
        ]),
        ""
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), printed);
    let missing = dir.path().join("no/such/dir/x.yml");
    let err = fails(&[
        "matrix",
        &fleet,
        "--emit",
        "gitlab",
        "--output",
        missing.to_str().unwrap(),
    ]);
    assert!(
        err.contains(&format!("writing {}: ", missing.display())),
        "{err}"
    );
}

#[test]
fn run_takes_several_descriptions_only_with_a_variant() {
    let dir = descriptions();
    let (fleet, plain) = paths(dir.path());
    let target = dir.path().join("out");
    let target = target.to_str().unwrap();
    let err = fails(&["run", &fleet, &plain, "--target-dir", target]);
    assert!(
        err.contains("2 descriptions given: build one of their variants with --variant N"),
        "{err}"
    );
    // filtered as `builder matrix` filters: one variant, index 0 only
    let err = fails(&[
        "run",
        &fleet,
        &plain,
        "--profile",
        "disk",
        "--variant",
        "1",
        "--target-dir",
        target,
    ]);
    assert!(
        err.contains("--variant 1: the descriptions have 1 variant(s), numbered 0 to 0"),
        "{err}"
    );
    assert!(!Path::new(target).join("builder.result.json").exists());
}

#[test]
fn datto_ubuntu2004_gives_a_valid_job_per_profile_in_each_document() {
    let Some(fixtures) =
        fixtures("datto_ubuntu2004_gives_a_valid_job_per_profile_in_each_document")
    else {
        return;
    };
    let root = fixtures.join("datto/kiwi-desc");
    let desc = root.join("ubuntu2004");
    let (root, desc) = (root.to_str().unwrap(), desc.to_str().unwrap());
    let emit = |target: &str| {
        let text = ok(&["--include-root", root, "matrix", desc, "--emit", target]);
        (yaml(&text), text)
    };
    let profiles = [
        "Azure",
        "AWSEC2",
        "OpenStack",
        "Vagrant-libvirt",
        "Vagrant-vbox",
    ];
    let include_root = format!("builder --include-root {root} run {desc} --profile");

    let (pipeline, text) = emit("gitlab");
    assert_valid(&schema("gitlab-ci.json"), &pipeline, &text);
    let jobs = gitlab_jobs(&pipeline);
    assert_eq!(jobs.len(), 5, "{text}");
    for ((_, job), profile) in jobs.iter().zip(profiles) {
        let script = job["script"][0].as_str().unwrap();
        assert!(
            script.starts_with(&format!(
                "{include_root} {profile} --type oem --target-dir "
            )),
            "{script}"
        );
    }

    let (workflow, text) = emit("github");
    assert_valid(&schema("github-workflow.json"), &workflow, &text);
    let include = workflow["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_array()
        .unwrap();
    assert_eq!(include.len(), 5, "{text}");
    for (entry, profile) in include.iter().zip(profiles) {
        let command = entry["command"].as_str().unwrap();
        assert!(
            command.starts_with(&format!("{include_root} {profile} ")),
            "{command}"
        );
    }

    let (job, text) = emit("kubernetes");
    assert_valid(&schema("job-batch-v1.json"), &job, &text);
    assert_eq!(job["spec"]["completions"], 5, "{text}");
    let command = &job["spec"]["template"]["spec"]["containers"][0]["command"];
    assert_eq!(command[1], "--include-root");
    assert_eq!(command[2], root);
}

/// The GitLab pipeline `--emit gitlab` writes for two variants of
/// `examples/debian-cloud` really runs: gitlab-ci-local (the npm tool
/// `scripts/setup` installs into `.tools`) runs both jobs in shell mode on
/// this machine, the second after the first, as `needs:` says. Each job
/// builds its image where its `artifacts:` say, and the second takes the
/// root the first prepared from the shared root cache (issue 17).
#[test]
fn the_gitlab_pipeline_runs_its_jobs_with_gitlab_ci_local() {
    let tool =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/node_modules/.bin/gitlab-ci-local");
    if !tool.exists() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED the_gitlab_pipeline_runs_its_jobs_with_gitlab_ci_local: {} is missing (scripts/setup installs it)",
            tool.display()
        );
        return;
    }
    let work = tempfile::Builder::new()
        .prefix("builder-test-gitlab-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let repo = work.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/debian-cloud"))
        .arg(&repo)
        .status()
        .unwrap();
    assert!(copied.success());
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=builder",
                "-c",
                "user.email=builder@localhost",
            ])
            .args(args)
            .current_dir(&repo)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    };
    git(&["init", "-q"]);
    let pipeline = repo.join(".gitlab-ci.yml");
    let out = builder(
        plugin_cache().path(),
        &[
            "matrix",
            repo.join("debian-cloud").to_str().unwrap(),
            "--profile",
            "ext4",
            "--profile",
            "squashfs",
            "--emit",
            "gitlab",
            "--output",
            pipeline.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // The jobs name the description as given; in the pipeline of a
    // repository it is a path inside it.
    let text = std::fs::read_to_string(&pipeline)
        .unwrap()
        .replace(&format!("{}/", repo.display()), "");
    std::fs::write(&pipeline, &text).unwrap();
    let jobs = gitlab_jobs(&yaml(&text));
    assert_eq!(jobs.len(), 2, "{text}");
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "two variants"]);

    let builder_dir = Path::new(env!("CARGO_BIN_EXE_builder")).parent().unwrap();
    let path = format!(
        "{}:{}",
        builder_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let cache = work.path().join("cache");
    let out = std::process::Command::new(&tool)
        .arg("--variable")
        .arg(format!("BUILDER_CACHE_DIR={}", cache.display()))
        .env("PATH", path)
        .env_remove("SOURCE_DATE_EPOCH")
        .current_dir(&repo)
        .output()
        .unwrap();
    let log = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "gitlab-ci-local: {log}");
    let mut phases_of = Vec::new();
    for (name, job) in &jobs {
        let paths = job["artifacts"]["paths"].as_array().unwrap();
        let dir = repo.join(paths[0].as_str().unwrap());
        let result: Value = serde_json::from_slice(
            &std::fs::read(dir.join("builder.result.json"))
                .unwrap_or_else(|e| panic!("{name}: no result in {}: {e}; {log}", dir.display())),
        )
        .unwrap();
        for artifact in result["artifacts"].as_array().unwrap() {
            let file = dir.join(artifact["file_name"].as_str().unwrap());
            assert!(file.is_file(), "{name}: {} missing", file.display());
        }
        let phases: Vec<String> = result["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["phase"].as_str().unwrap().to_string())
            .collect();
        phases_of.push(phases);
    }
    assert!(
        phases_of[0].iter().any(|p| p == "prepare: bootstrap"),
        "{phases_of:?}"
    );
    assert!(
        phases_of[1].iter().any(|p| p == "prepare: cached-root"),
        "{phases_of:?}"
    );
    assert!(
        !phases_of[1].iter().any(|p| p == "prepare: bootstrap"),
        "{phases_of:?}"
    );
}

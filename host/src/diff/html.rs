//! The change review as one self-contained HTML page: no scripts, no
//! fetched styles or fonts, so it can be attached to a merge request and
//! opened anywhere.

use std::fmt::Write as _;

use super::{change_mark, human_bytes, human_delta, Report, Side};

const STYLE: &str = "
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #1b1f24; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .25rem; }
.sides { color: #57606a; margin: 0; }
.cards { display: flex; flex-wrap: wrap; gap: .75rem; margin-top: 1.25rem; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: .5rem .9rem; min-width: 8rem; }
.card .n { display: block; font-size: 1.6rem; font-weight: 600; }
.card .what { color: #57606a; font-size: .85rem; }
table { border-collapse: collapse; width: 100%; margin-top: .5rem; }
th, td { text-align: left; padding: .2rem .6rem; border-bottom: 1px solid #eaeef2; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, td.path { font-family: ui-monospace, monospace; font-size: .85rem; word-break: break-all; }
.added { color: #1a7f37; } .removed { color: #cf222e; } .changed { color: #9a6700; }
.none { color: #57606a; font-style: italic; }
";

/// Escapes text for HTML element content and attribute values (the five
/// XML entities, which HTML5 knows too).
fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

fn side_line(label: &str, side: &Side) -> String {
    format!(
        "<p class=\"sides\">{label}: <strong>{}</strong>{} &nbsp;<code>{}</code></p>\n",
        escape(&side.image),
        side.image_type
            .as_deref()
            .map(|t| format!(" ({})", escape(t)))
            .unwrap_or_default(),
        escape(&side.dir.display().to_string())
    )
}

fn card(out: &mut String, id: &str, n: usize, what: &str) {
    let _ = writeln!(
        out,
        "<div class=\"card\"><span class=\"n\" id=\"{id}\">{n}</span><span class=\"what\">{what}</span></div>"
    );
}

/// The page.
pub fn render(report: &Report) -> String {
    let c = &report.counts;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>builder diff: {} → {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>Image changes</h1>\n",
        escape(&report.old.image),
        escape(&report.new.image)
    );
    out.push_str(&side_line("old", &report.old));
    out.push_str(&side_line("new", &report.new));
    out.push_str("<div class=\"cards\">\n");
    card(
        &mut out,
        "packages-added",
        c.packages_added,
        "packages added",
    );
    card(
        &mut out,
        "packages-removed",
        c.packages_removed,
        "packages removed",
    );
    card(
        &mut out,
        "packages-upgraded",
        c.packages_upgraded,
        "packages upgraded",
    );
    card(
        &mut out,
        "packages-downgraded",
        c.packages_downgraded,
        "packages downgraded",
    );
    card(
        &mut out,
        "licenses-changed",
        c.licenses_changed,
        "licences changed",
    );
    if report.files_compared {
        card(&mut out, "files-added", c.files_added, "files added");
        card(&mut out, "files-removed", c.files_removed, "files removed");
        card(&mut out, "files-changed", c.files_changed, "files changed");
    }
    out.push_str("</div>\n");

    let _ = writeln!(
        out,
        "<h2>Packages <span class=\"what\">({} → {})</span></h2>",
        report.old.packages, report.new.packages
    );
    let rows =
        report.added.len() + report.removed.len() + report.upgraded.len() + report.downgraded.len();
    if rows == 0 {
        out.push_str("<p class=\"none\">No package changes.</p>\n");
    } else {
        out.push_str("<table id=\"packages\">\n<tr><th></th><th>package</th><th>arch</th><th>old</th><th>new</th></tr>\n");
        let mut row = |class: &str, mark: &str, name: &str, arch: &str, old: &str, new: &str| {
            let _ = writeln!(
                out,
                "<tr class=\"{class}\"><td>{mark}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                escape(name),
                escape(arch),
                escape(old),
                escape(new)
            );
        };
        for p in &report.added {
            row("added", "added", &p.name, &p.arch, "", &p.version);
        }
        for p in &report.removed {
            row("removed", "removed", &p.name, &p.arch, &p.version, "");
        }
        for p in &report.upgraded {
            row("changed", "upgraded", &p.name, &p.arch, &p.old, &p.new);
        }
        for p in &report.downgraded {
            row("changed", "downgraded", &p.name, &p.arch, &p.old, &p.new);
        }
        out.push_str("</table>\n");
    }

    out.push_str("<h2>Licences</h2>\n");
    if report.licenses.is_empty() {
        out.push_str("<p class=\"none\">No licence changes.</p>\n");
    } else {
        out.push_str("<table id=\"licences\">\n<tr><th>package</th><th>arch</th><th>old</th><th>new</th></tr>\n");
        let shown = |l: &Option<String>| match l {
            Some(l) => format!("<code>{}</code>", escape(l)),
            None => "<span class=\"none\">none declared</span>".into(),
        };
        for l in &report.licenses {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&l.name),
                escape(&l.arch),
                shown(&l.old),
                shown(&l.new)
            );
        }
        out.push_str("</table>\n");
    }

    out.push_str("<h2>Files</h2>\n");
    if !report.files_compared {
        out.push_str("<p class=\"none\">Not compared: a build without a <code>.files</code> manifest (made by KIWI or an older builder).</p>\n");
    } else if report.files.is_empty() {
        out.push_str("<p class=\"none\">No file changes.</p>\n");
    } else {
        let _ = writeln!(
            out,
            "<details{}><summary>{} paths</summary>\n<table id=\"files\">\n<tr><th></th><th>path</th><th>change</th><th>old size</th><th>new size</th></tr>",
            if report.files.len() <= 500 { " open" } else { "" },
            report.files.len()
        );
        for change in &report.files {
            let (mark, what) = change_mark(&change.change);
            let class = match mark {
                "+" => "added",
                "-" => "removed",
                _ => "changed",
            };
            let size = |s: Option<u64>| s.map(human_bytes).unwrap_or_default();
            let _ = writeln!(
                out,
                "<tr class=\"{class}\"><td>{mark}</td><td class=\"path\">/{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&change.path),
                escape(&what),
                size(change.old_size),
                size(change.new_size)
            );
        }
        out.push_str("</table>\n</details>\n");
    }

    out.push_str("<h2>Sizes</h2>\n<table id=\"sizes\">\n<tr><th>artifact</th><th>old</th><th>new</th><th>change</th></tr>\n");
    for size in &report.sizes {
        let cell = |s: Option<u64>| s.map(human_bytes).unwrap_or_else(|| "not built".into());
        let delta = match (size.old, size.new) {
            (Some(o), Some(n)) => human_delta(o, n),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(&size.what),
            cell(size.old),
            cell(size.new),
            delta
        );
    }
    out.push_str("</table>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_names_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}

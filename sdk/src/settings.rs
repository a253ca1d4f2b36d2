//! The description's elements below `<type>` (`build-request.settings`), as
//! a tree to walk: `request.settings().element("containerconfig")`.

use crate::{BuildRequest, Setting};

/// The elements below the `<type>` being built, in document order.
#[derive(Clone, Copy)]
pub struct Settings<'a> {
    all: &'a [Setting],
}

/// One element of [`Settings`], with its place among them.
#[derive(Clone, Copy)]
pub struct Element<'a> {
    all: &'a [Setting],
    index: usize,
}

impl<'a> Settings<'a> {
    /// A view of `all`, as the host sends them.
    pub fn new(all: &'a [Setting]) -> Self {
        Settings { all }
    }

    /// The direct children of `<type>` named `name`, in document order.
    pub fn elements(self, name: &'a str) -> impl Iterator<Item = Element<'a>> + 'a {
        children(self.all, None, name)
    }

    /// The first direct child of `<type>` named `name`.
    pub fn element(self, name: &'a str) -> Option<Element<'a>> {
        self.elements(name).next()
    }
}

fn children<'a>(
    all: &'a [Setting],
    parent: Option<u32>,
    name: &'a str,
) -> impl Iterator<Item = Element<'a>> + 'a {
    all.iter()
        .enumerate()
        .filter(move |(_, s)| s.parent == parent && s.element == name)
        .map(move |(index, _)| Element { all, index })
}

impl<'a> Element<'a> {
    fn setting(&self) -> &'a Setting {
        &self.all[self.index]
    }

    /// The element's name.
    pub fn name(&self) -> &'a str {
        &self.setting().element
    }

    /// The value of attribute `name`, as written.
    pub fn attr(&self, name: &str) -> Option<&'a str> {
        self.setting()
            .attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value.as_str())
    }

    /// Every attribute, in document order.
    pub fn attributes(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.setting()
            .attributes
            .iter()
            .map(|a| (a.name.as_str(), a.value.as_str()))
    }

    /// Attribute `name` is `true` or `1` (XML Schema's booleans, as KIWI reads them).
    pub fn flag(&self, name: &str) -> bool {
        self.attr(name)
            .is_some_and(|v| matches!(v.trim(), "true" | "1"))
    }

    /// The element's text, trimmed.
    pub fn text(&self) -> &'a str {
        &self.setting().text
    }

    /// Its child elements named `name`, in document order.
    pub fn children(&self, name: &'a str) -> impl Iterator<Item = Element<'a>> + 'a {
        children(self.all, u32::try_from(self.index).ok(), name)
    }

    /// Its first child element named `name`.
    pub fn child(&self, name: &'a str) -> Option<Element<'a>> {
        self.children(name).next()
    }
}

impl BuildRequest {
    /// The elements below `<type>` (`containerconfig`, `vagrantconfig`, ...).
    pub fn settings(&self) -> Settings<'_> {
        Settings::new(&self.settings)
    }

    /// The content of description file `name`, when a setting names it and
    /// the host read it.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.content.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OptionValue;

    fn setting(element: &str, parent: Option<u32>, attributes: &[(&str, &str)]) -> Setting {
        Setting {
            element: element.into(),
            parent,
            attributes: attributes
                .iter()
                .map(|(n, v)| OptionValue {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            text: String::new(),
        }
    }

    #[test]
    fn children_are_found_by_parent_index_and_name() {
        let all = vec![
            setting("containerconfig", None, &[("name", "box")]),
            setting("entrypoint", Some(0), &[("execute", "/bin/sh")]),
            setting("argument", Some(1), &[("name", "-c")]),
            setting("argument", Some(1), &[("name", "true")]),
            setting("vagrantconfig", None, &[("provider", "libvirt")]),
            setting("argument", Some(4), &[("name", "elsewhere")]),
        ];
        let settings = Settings::new(&all);
        let config = settings.element("containerconfig").unwrap();
        assert_eq!(config.attr("name"), Some("box"));
        let entry = config.child("entrypoint").unwrap();
        assert_eq!(entry.attr("execute"), Some("/bin/sh"));
        let args: Vec<_> = entry
            .children("argument")
            .filter_map(|a| a.attr("name"))
            .collect();
        assert_eq!(args, ["-c", "true"]);
        assert!(config.child("argument").is_none());
        assert_eq!(
            settings.element("vagrantconfig").unwrap().attr("provider"),
            Some("libvirt")
        );
    }
}

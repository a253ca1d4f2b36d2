//! Image descriptions: the typed model and the KIWI XML, YAML and JSON readers.

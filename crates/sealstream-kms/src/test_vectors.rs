//! The key-record vectors of tests/vectors/records.txt, for unit tests.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::HashMap;

pub(crate) struct Vectors(HashMap<&'static str, &'static str>);

impl Vectors {
    pub(crate) fn load() -> Self {
        let text = include_str!("../tests/vectors/records.txt");
        let map = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let (k, v) = l.split_once(" = ").unwrap();
                (k.trim(), v.trim())
            })
            .collect();
        Vectors(map)
    }

    /// The vectors whose names start with `prefix`, sorted by name.
    pub(crate) fn starting_with(&self, prefix: &str) -> Vec<(&'static str, &'static str)> {
        let mut out: Vec<_> = self
            .0
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (*k, *v))
            .collect();
        out.sort_unstable();
        out
    }

    pub(crate) fn get(&self, name: &str) -> &'static str {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("no vector {name}"))
    }
}

pub(crate) fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

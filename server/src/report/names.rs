//! Sheet names Excel accepts: 1 to 31 characters, none of `[ ] : * ? / \`, no apostrophe
//! first or last, not `History` (Excel keeps it), and unique in the workbook ignoring case.

use std::collections::HashSet;

/// Longest sheet name Excel takes.
pub(crate) const MAX_SHEET_NAME: usize = 31;

/// Hands out valid, unique sheet names.
#[derive(Debug, Default)]
pub(crate) struct SheetNames {
    taken: HashSet<String>,
}

impl SheetNames {
    /// A valid name close to `wanted`, not yet given: characters Excel refuses become `_`,
    /// long names are cut, and a taken name gets ` (2)`, ` (3)`, ... (cut to fit).
    pub(crate) fn name(&mut self, wanted: &str) -> String {
        let clean = clean(wanted);
        let mut n = 1usize;
        loop {
            let candidate = if n == 1 {
                clean.clone()
            } else {
                let suffix = format!(" ({n})");
                let room = MAX_SHEET_NAME - suffix.chars().count();
                let head: String = clean.chars().take(room).collect();
                format!("{}{suffix}", head.trim_end_matches('\''))
            };
            if self.taken.insert(candidate.to_lowercase()) {
                return candidate;
            }
            n += 1;
        }
    }
}

/// `wanted` with every refused character replaced and cut to 31 characters.
fn clean(wanted: &str) -> String {
    let replaced: String = wanted
        .chars()
        .map(|c| match c {
            '[' | ']' | ':' | '*' | '?' | '/' | '\\' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .take(MAX_SHEET_NAME)
        .collect();
    let trimmed = replaced.trim().trim_matches('\'').trim();
    if trimmed.is_empty() || trimmed.eq_ignore_ascii_case("history") {
        // `History` is Excel's own; an empty name is not a name.
        format!("{}_", if trimmed.is_empty() { "Sheet" } else { trimmed })
    } else {
        trimmed.to_owned()
    }
}

/// Whether Excel takes `name` as a sheet name (the rules above, uniqueness aside).
#[cfg(test)]
pub(crate) fn valid(name: &str) -> bool {
    let n = name.chars().count();
    (1..=MAX_SHEET_NAME).contains(&n)
        && !name.contains(['[', ']', ':', '*', '?', '/', '\\'])
        && !name.starts_with('\'')
        && !name.ends_with('\'')
        && !name.eq_ignore_ascii_case("history")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid_and_unique() {
        let mut s = SheetNames::default();
        let wanted = [
            "history AAPL",
            "history AAPL",
            "HISTORY aapl",
            "a/b:c*d?e[f]g\\h",
            "",
            "'quoted'",
            "History",
            "a very long sheet name that goes on and on",
            "a very long sheet name that goes on and on",
        ];
        let got: Vec<String> = wanted.iter().map(|w| s.name(w)).collect();
        assert_eq!(got[0], "history AAPL");
        assert_eq!(got[1], "history AAPL (2)");
        assert_eq!(got[2], "HISTORY aapl (3)");
        assert_eq!(got[3], "a_b_c_d_e_f_g_h");
        let mut seen = HashSet::new();
        for g in &got {
            assert!(valid(g), "{g:?}");
            assert!(seen.insert(g.to_lowercase()), "{g:?} twice");
        }
        assert_eq!(got[7].chars().count(), 31);
        assert!(got[8].ends_with(" (2)") && got[8].chars().count() == 31);
    }
}

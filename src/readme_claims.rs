//! For unit tests: the README states a figure the code keeps. The README
//! is read as rendered, so a claim may wrap across lines.

/// Panics naming each claim the README does not make.
pub fn assert_readme_says(claims: &[String]) {
    let readme = include_str!("../README.md")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for claim in claims {
        let claim = claim.split_whitespace().collect::<Vec<_>>().join(" ");
        if !readme.contains(claim.as_str()) {
            // Name where the README parts from the claim.
            let agreed = (1..=claim.len())
                .rev()
                .filter(|end| claim.is_char_boundary(*end))
                .find(|end| readme.contains(&claim[..*end]))
                .unwrap_or(0);
            panic!(
                "README should say: {claim}\n(it agrees up to: …{})",
                &claim[claim.floor_char_boundary(agreed.saturating_sub(80))..agreed]
            );
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every repository path the README names in backticks exists (paths
    /// with a placeholder such as `<kind>` name a family, not a file;
    /// `bench/out/` holds what a benchmark run writes).
    #[test]
    fn every_path_the_readme_names_exists() {
        let readme = include_str!("../README.md");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let roots = [
            "src/",
            "templates/",
            "tests/",
            "migrations/",
            "bench/",
            "examples/",
            ".ci/",
        ];
        let mut missing = Vec::new();
        let mut named = 0;
        for quoted in readme.split('`').skip(1).step_by(2) {
            let path = quoted.trim_end_matches([':', ',', '.']);
            if !roots.iter().any(|r| path.starts_with(r))
                || path.contains(['<', '*', ' ', '{'])
                || path.starts_with("bench/out/")
            {
                continue;
            }
            named += 1;
            if !root.join(path).exists() {
                missing.push(path.to_owned());
            }
        }
        assert!(named >= 5, "the README names {named} paths");
        assert!(
            missing.is_empty(),
            "the README names missing paths: {missing:?}"
        );
    }
}

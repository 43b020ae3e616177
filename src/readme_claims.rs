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

//! For unit tests: the README states a figure the code keeps. The README
//! is read as rendered, so a claim may wrap across lines.

/// Panics naming each claim the README does not make.
pub fn assert_readme_says(claims: &[String]) {
    let readme = include_str!("../README.md")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for claim in claims {
        assert!(
            readme.contains(claim.as_str()),
            "README should say: {claim}"
        );
    }
}

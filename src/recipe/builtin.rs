//! The built-in recipes (the TOML files of `recipes/`, embedded at build time) and the
//! resolution of a recipe argument: a built-in name or a path.

use std::path::Path;

use super::{Recipe, RecipeError};

/// (name, TOML text) of every built-in recipe.
pub const BUILTIN: &[(&str, &str)] = &[
    ("baseline", include_str!("../../recipes/baseline.toml")),
    ("augmix", include_str!("../../recipes/augmix.toml")),
    ("advbn", include_str!("../../recipes/advbn.toml")),
    ("augmix+advbn", include_str!("../../recipes/augmix+advbn.toml")),
    (
        "advbn-finetune",
        include_str!("../../recipes/advbn-finetune.toml"),
    ),
    ("mixstyle", include_str!("../../recipes/mixstyle.toml")),
    ("dsu", include_str!("../../recipes/dsu.toml")),
    ("randconv", include_str!("../../recipes/randconv.toml")),
    (
        "randconv+advbn",
        include_str!("../../recipes/randconv+advbn.toml"),
    ),
    (
        "augmix+randconv+advbn",
        include_str!("../../recipes/augmix+randconv+advbn.toml"),
    ),
    (
        "baseline-imagenet",
        include_str!("../../recipes/baseline-imagenet.toml"),
    ),
    (
        "augmix-imagenet",
        include_str!("../../recipes/augmix-imagenet.toml"),
    ),
    (
        "advbn-imagenet",
        include_str!("../../recipes/advbn-imagenet.toml"),
    ),
    (
        "augmix+advbn-imagenet",
        include_str!("../../recipes/augmix+advbn-imagenet.toml"),
    ),
];

/// The names of the built-in recipes.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// A built-in recipe by name.
///
/// ```
/// let r = advbn::recipe::builtin("advbn").unwrap().unwrap();
/// assert_eq!(r.advbn().unwrap().steps, 6);
/// assert!(advbn::recipe::builtin("nope").is_none());
/// ```
pub fn builtin(name: &str) -> Option<Result<Recipe, RecipeError>> {
    BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, text)| Recipe::from_toml(text, &format!("built-in recipe `{n}`")))
}

/// Resolves `name_or_path`: a built-in name, else a TOML file.
pub fn resolve(name_or_path: &str) -> Result<Recipe, RecipeError> {
    if let Some(recipe) = builtin(name_or_path) {
        return recipe;
    }
    let path = Path::new(name_or_path);
    if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| RecipeError::Parse {
            origin: path.display().to_string(),
            message: format!("cannot read: {e}"),
        })?;
        return Recipe::from_toml(&text, &path.display().to_string());
    }
    Err(RecipeError::Unknown {
        name: name_or_path.to_string(),
        builtin: builtin_names().join(", "),
    })
}

//! `--set key.path=value` overrides on a recipe.

use toml::Value;

use super::{Recipe, RecipeError};

/// Applies `key.path=value` overrides in order, then re-validates. A path may index arrays
/// (`pixel[2].severity=4`); the value is TOML (`5`, `0.1`, `true`, `"text"`, `[1, 2]`), or a
/// bare word taken as a string (`model.arch=resnet20`).
///
/// ```
/// let r = advbn::recipe::builtin("baseline").unwrap().unwrap();
/// let r = advbn::recipe::apply_overrides(r, &["train.epochs=5".into(), "model.arch=tiny".into()]).unwrap();
/// assert_eq!(r.train.epochs, 5);
/// ```
pub fn apply_overrides(recipe: Recipe, overrides: &[String]) -> Result<Recipe, RecipeError> {
    if overrides.is_empty() {
        return Ok(recipe);
    }
    let origin = format!("recipe `{}` after --set", recipe.name);
    let fail = |message: String| RecipeError::Override { message };
    let mut root = Value::try_from(&recipe).map_err(|e| fail(format!("cannot represent the recipe: {e}")))?;
    for item in overrides {
        let (path, raw) = item
            .split_once('=')
            .ok_or_else(|| fail(format!("`{item}` is not of the form key.path=value")))?;
        let value = parse_value(raw.trim());
        let slot = locate(&mut root, path.trim()).map_err(|m| fail(format!("--set {item}: {m}")))?;
        *slot = value;
    }
    let text = toml::to_string(&root).map_err(|e| fail(format!("cannot write the recipe back: {e}")))?;
    Recipe::parse_toml(&text, &origin, false)
}

fn parse_value(raw: &str) -> Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()))
}

/// Finds (creating tables on the way) the slot a dotted path names.
fn locate<'a>(root: &'a mut Value, path: &str) -> Result<&'a mut Value, String> {
    if path.is_empty() {
        return Err("empty key".into());
    }
    let mut current = root;
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, rest)) => {
                let i = rest
                    .strip_suffix(']')
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or_else(|| format!("bad index in `{part}`"))?;
                (k, Some(i))
            }
            None => (part, None),
        };
        let table = current
            .as_table_mut()
            .ok_or_else(|| format!("`{key}` is inside a value that is not a table"))?;
        current = table
            .entry(key.to_string())
            .or_insert_with(|| Value::Table(Default::default()));
        if let Some(i) = index {
            let array = current
                .as_array_mut()
                .ok_or_else(|| format!("`{key}` is not a list"))?;
            let len = array.len();
            current = array
                .get_mut(i)
                .ok_or_else(|| format!("`{key}` has {len} entries, index {i} is out of range"))?;
        }
    }
    Ok(current)
}

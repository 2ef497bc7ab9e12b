//! `advbn recipes [show NAME]`.

use clap::{Args, Subcommand};

use super::common::{CliResult, load_recipe};
use crate::recipe::{BUILTIN, builtin};

/// Arguments of `advbn recipes`.
#[derive(Debug, Args)]
pub struct RecipesArgs {
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Print a recipe (built-in name or path) fully resolved, as TOML.
    Show {
        /// Built-in name or path to a TOML file.
        name: String,
        /// Overrides, `key.path=value` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
}

pub fn run(args: RecipesArgs) -> CliResult {
    match args.action {
        None => {
            for (name, _) in BUILTIN {
                let recipe = builtin(name)
                    .expect("listed")
                    .map_err(super::CliError::from_display)?;
                println!("{name:<22} {}", recipe.description);
            }
            Ok(())
        }
        Some(Action::Show { name, set }) => {
            print!("{}", load_recipe(&name, &set)?.to_toml());
            Ok(())
        }
    }
}

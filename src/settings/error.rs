//! What can go wrong reading settings, each with a message that names the
//! setting (or the file, or the variable) and what to write instead.

use std::path::PathBuf;

/// Settings that could not be read or cannot be honoured.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The settings file could not be read.
    #[error("cannot read settings file {}: {source}", path.display())]
    FileUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The settings file is not TOML (`why` has any password hidden).
    #[error("settings file {} is not valid TOML: {why}", path.display())]
    FileNotToml { path: PathBuf, why: String },
    /// A top-level key of the settings file that is not a section.
    #[error("settings file {}: `{section}` must be a section ([{section}])", path.display())]
    NotASection { path: PathBuf, section: String },
    /// A key of the settings file that names no setting.
    #[error("settings file {}: unknown setting `{setting}`{hint}", path.display())]
    UnknownInFile {
        path: PathBuf,
        setting: String,
        /// The nearest known setting, as a sentence's end (or nothing).
        hint: String,
    },
    /// A `COBROWSE_*` variable that names no setting.
    #[error("unknown environment variable {name}{hint}")]
    UnknownVariable { name: String, hint: String },
    /// A `--set path=value` that names no setting.
    #[error("unknown setting `{setting}`{hint}")]
    UnknownSetting { setting: String, hint: String },
    /// Values that cannot be honoured: one line each, naming the setting
    /// and where its value came from (all of them, not only the first).
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// No place for the event store could be found.
    #[error("the event store: {0}")]
    StorePlace(String),
}

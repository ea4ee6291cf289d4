//! Layering: defaults, the settings file, the environment and flags, each
//! overriding the one before, with where each value came from; then typed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::settings::table::describe;
use crate::settings::table::lookup;
use crate::settings::table::suggest;
use crate::settings::table::suggest_path;
use crate::settings::table::{SECRETS, URLS};
use crate::settings::{Setting, Settings, SettingsError, CONFIG_ENV, SETTINGS};

/// Where a value came from, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingSource {
    Default,
    File,
    Environment,
    Flag,
}

impl fmt::Display for SettingSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SettingSource::Default => "default",
            SettingSource::File => "settings file",
            SettingSource::Environment => "environment",
            SettingSource::Flag => "command line",
        })
    }
}

/// Values gathered from every source before they are typed.
#[derive(Default)]
pub struct Layers {
    values: toml::Table,
    sources: BTreeMap<String, SettingSource>,
}

impl Layers {
    /// The defaults of [`SETTINGS`].
    pub fn defaults() -> Self {
        let mut layers = Self::default();
        for setting in SETTINGS {
            if let Some(default) = setting.default {
                layers.put(
                    setting.path,
                    toml::Value::String(default.into()),
                    SettingSource::Default,
                );
            }
        }
        layers
    }

    /// Every source of the process: defaults, `COBROWSE_CONFIG` or
    /// `config`, the environment, then the given flag overrides.
    pub fn load(
        config: Option<&Path>,
        overrides: &[(String, String)],
    ) -> Result<Self, SettingsError> {
        let mut layers = Layers::defaults();
        let from_env = std::env::var_os(CONFIG_ENV).map(std::path::PathBuf::from);
        if let Some(path) = config.map(Path::to_path_buf).or(from_env) {
            layers = layers.file(&path)?;
        }
        layers = layers.env(std::env::vars())?;
        for (path, value) in overrides {
            layers = layers.set(path, value)?;
        }
        Ok(layers)
    }

    /// Each setting's value as given (secrets redacted; `None` when unset)
    /// and the source it came from.
    pub(crate) fn given(&self) -> Vec<(&'static Setting, Option<String>, SettingSource)> {
        SETTINGS
            .iter()
            .map(|setting| {
                let (section, key) = setting.path.split_once('.').expect("section.key");
                let value = self.values.get(section).and_then(|s| s.get(key)).map(|v| {
                    if let (true, toml::Value::String(url)) = (URLS.contains(&setting.path), v) {
                        crate::secret::redact_url(url)
                    } else if SECRETS.contains(&setting.path) {
                        "(set; not shown)".to_owned()
                    } else if let toml::Value::String(text) = v {
                        text.clone()
                    } else {
                        v.to_string()
                    }
                });
                let source = self
                    .sources
                    .get(setting.path)
                    .copied()
                    .unwrap_or(SettingSource::Default);
                (setting, value, source)
            })
            .collect()
    }

    /// Adds a TOML settings file.
    pub(crate) fn file(mut self, path: &Path) -> Result<Self, SettingsError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| SettingsError::FileUnreadable {
                path: path.to_owned(),
                source,
            })?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            // The message quotes the line, which may hold a URL's password.
            SettingsError::FileNotToml {
                path: path.to_owned(),
                why: crate::secret::redact_text(&e.to_string()),
            }
        })?;
        for (section, value) in table {
            let toml::Value::Table(keys) = value else {
                return Err(SettingsError::NotASection {
                    path: path.to_owned(),
                    section,
                });
            };
            for (key, value) in keys {
                let path_key = format!("{section}.{key}");
                if lookup(&path_key).is_none() {
                    return Err(SettingsError::UnknownInFile {
                        path: path.to_owned(),
                        hint: suggest_path(&path_key),
                        setting: path_key,
                    });
                }
                self.put(&path_key, value, SettingSource::File);
            }
        }
        Ok(self)
    }

    /// Adds every `COBROWSE_*` variable of `vars`. Unknown ones are errors,
    /// so that a typo does not silently fall back to a default.
    pub(crate) fn env(
        mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        for (name, value) in vars {
            if !name.starts_with("COBROWSE_") || name == CONFIG_ENV {
                continue;
            }
            let Some(setting) = SETTINGS.iter().find(|s| s.env == name) else {
                return Err(SettingsError::UnknownVariable {
                    hint: suggest(&name, SETTINGS.iter().map(|s| s.env))
                        .map(|env| format!(": did you mean {env}?"))
                        .unwrap_or_else(|| {
                            ": `cobrowse-gateway --help` lists the settings".to_owned()
                        }),
                    name,
                });
            };
            self.put(
                setting.path,
                toml::Value::String(value),
                SettingSource::Environment,
            );
        }
        Ok(self)
    }

    /// Adds one `path=value` override from the command line.
    pub fn set(mut self, path: &str, value: &str) -> Result<Self, SettingsError> {
        if lookup(path).is_none() {
            return Err(SettingsError::UnknownSetting {
                setting: path.to_owned(),
                hint: suggest_path(path),
            });
        }
        self.put(path, toml::Value::String(value.into()), SettingSource::Flag);
        Ok(self)
    }

    fn put(&mut self, path: &str, value: toml::Value, source: SettingSource) {
        let (section, key) = path.split_once('.').expect("setting paths are section.key");
        let section = self
            .values
            .entry(section.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(keys) = section {
            keys.insert(key.to_owned(), value);
        }
        self.sources.insert(path.to_owned(), source);
    }

    /// Types and checks the gathered values.
    pub fn build(self) -> Result<Settings, SettingsError> {
        let sources = self.sources;
        let settings: Settings = serde_path_to_error::deserialize(toml::Value::Table(self.values))
            .map_err(|e| {
                let path = e.path().to_string();
                SettingsError::Invalid(vec![format!(
                    "invalid setting {}: {}",
                    describe(&path, &sources),
                    e.inner().message().trim()
                )])
            })?;
        settings.check(&sources)?;
        Ok(settings)
    }
}

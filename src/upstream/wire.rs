//! Tolerant wire enumerations.
//!
//! PureCloud enumerations grow over time, and some (`purpose`, segment `type`)
//! are free strings upstream. A [`Wire<E>`] keeps the raw string exactly as it
//! travelled and maps it to the known enum `E` (once, when it is read off the
//! wire), with `Unknown` as the fallback, so an unseen value never fails a
//! response.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An enumeration whose wire form is a string.
pub(crate) trait WireEnum: Copy + Sized + 'static {
    /// The fallback for values this build does not know.
    const UNKNOWN: Self;
    /// Every known value with its REST spelling (the one written back).
    const VALUES: &'static [(&'static str, Self)];
    /// The other spellings of the same values (the notification events'
    /// short forms, analytics' camelCase), one table per spelling.
    const ALIASES: &'static [&'static [(&'static str, Self)]] = &[];

    /// Maps a wire string in any of its spellings to the known value, or to
    /// [`WireEnum::UNKNOWN`]. Case does not matter (REST says `Alert` where
    /// analytics says `alert`).
    fn from_wire(raw: &str) -> Self {
        std::iter::once(Self::VALUES)
            .chain(Self::ALIASES.iter().copied())
            .flatten()
            .find(|(wire, _)| wire.eq_ignore_ascii_case(raw))
            .map_or(Self::UNKNOWN, |(_, value)| *value)
    }
}

/// How `table` spells `value`, if it has it.
pub(crate) fn spelling<E: WireEnum + PartialEq>(
    table: &'static [(&'static str, E)],
    value: E,
) -> Option<&'static str> {
    table.iter().find(|(_, v)| *v == value).map(|(w, _)| *w)
}

/// A wire string that reads as the enumeration `E`.
pub(crate) struct Wire<E> {
    raw: Box<str>,
    value: E,
}

impl<E: WireEnum> Wire<E> {
    /// Wraps a raw value.
    pub(crate) fn new(raw: impl Into<Box<str>>) -> Self {
        let raw = raw.into();
        Self {
            value: E::from_wire(&raw),
            raw,
        }
    }

    /// The known value, or `E::UNKNOWN`.
    pub(crate) fn get(&self) -> E {
        self.value
    }

    /// The value exactly as upstream sent it.
    pub(crate) fn raw(&self) -> &str {
        &self.raw
    }
}

impl<E> get_size2::GetSize for Wire<E> {
    fn get_heap_size_with_tracker<T: get_size2::GetSizeTracker>(&self, tracker: T) -> (usize, T) {
        (self.raw.len(), tracker)
    }
}

impl<E: Copy> Clone for Wire<E> {
    fn clone(&self) -> Self {
        Self {
            raw: self.raw.clone(),
            value: self.value,
        }
    }
}

impl<E> PartialEq for Wire<E> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl<E> fmt::Debug for Wire<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.raw, f)
    }
}

impl<E> Serialize for Wire<E> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.raw)
    }
}

impl<'de, E: WireEnum> Deserialize<'de> for Wire<E> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::new(Box::<str>::deserialize(deserializer)?))
    }
}

/// Declares a GraphQL enum with an `UNKNOWN` fallback and its wire spellings.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $crate::upstream::wire::wire_enum! { $(#[$meta])* $name { $($(#[$vmeta])* $variant = $wire),+ } aliases [] }
    };
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? } aliases [$($alias:expr),* $(,)?]) => {
        $(#[$meta])*
        #[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this version of the gateway does not know; the matching `...Raw` field holds it.
            Unknown,
        }

        impl $crate::upstream::wire::WireEnum for $name {
            const UNKNOWN: Self = $name::Unknown;
            const VALUES: &'static [(&'static str, Self)] = &[$(($wire, $name::$variant)),+];
            const ALIASES: &'static [&'static [(&'static str, Self)]] = &[$($alias),*];
        }

        impl $name {
            /// The REST spelling of a known value (`None` for `Unknown`).
            #[allow(dead_code)]
            pub fn as_wire(self) -> Option<&'static str> {
                <Self as $crate::upstream::wire::WireEnum>::VALUES
                    .iter()
                    .find(|(_, v)| *v == self)
                    .map(|(w, _)| *w)
            }
        }
    };
}
pub(crate) use wire_enum;

#[cfg(test)]
mod tests {
    use super::*;

    wire_enum! {
        /// A test enum.
        Colour { Red = "red", DarkBlue = "dark.blue" }
    }

    #[test]
    fn known_values_map_and_unknown_values_keep_their_raw_text() {
        let known: Wire<Colour> = serde_json::from_str("\"dark.blue\"").expect("valid json");
        assert_eq!(known.get(), Colour::DarkBlue);
        let unknown: Wire<Colour> = serde_json::from_str("\"ultraviolet\"").expect("valid json");
        assert_eq!(unknown.get(), Colour::Unknown);
        assert_eq!(unknown.raw(), "ultraviolet");
        assert_eq!(
            serde_json::to_string(&unknown).expect("serializes"),
            "\"ultraviolet\""
        );
        assert_eq!(Colour::Red.as_wire(), Some("red"));
        assert_eq!(Colour::Unknown.as_wire(), None);
    }
}

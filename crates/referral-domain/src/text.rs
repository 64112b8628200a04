//! Text people type that reaches other people (names, messages): no character that is
//! invisible or changes how the rest reads. A NUL ends strings in C and is refused by
//! PostgreSQL; CR and LF split email headers; the bidirectional overrides (U+202A–U+202E,
//! U+2066–U+2069) make a name or message read backwards ("Trojan Source").

/// Why a text is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextRefusal {
    /// A control character (NUL, CR, LF, tab, ...) or a bidirectional control.
    #[error("must not contain control or invisible formatting characters (such as line breaks or U+{0:04X})")]
    HiddenCharacter(u32),
}

/// Whether `c` is refused in a name or a message: every control character (Unicode Cc)
/// and the bidirectional controls (embeddings, overrides, isolates, marks). Other format
/// characters, such as the joiner inside emoji, are allowed.
pub const fn is_hidden(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{200e}' | '\u{200f}' | '\u{061c}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Checks a name or a message for hidden characters.
///
/// # Errors
/// [`TextRefusal::HiddenCharacter`] with the first one.
pub fn check_visible(text: &str) -> Result<(), TextRefusal> {
    match text.chars().find(|c| is_hidden(*c)) {
        Some(c) => Err(TextRefusal::HiddenCharacter(u32::from(c))),
        None => Ok(()),
    }
}

/// `text` without its hidden characters (CR and LF become spaces): for values that reach
/// an email header from data stored before the rule.
pub fn visible(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\r' | '\n' | '\t' => Some(' '),
            c if is_hidden(c) => None,
            c => Some(c),
        })
        .collect()
}

/// The schema pattern of text that must not be blank: a character `str::trim` keeps, and no
/// NUL anywhere. [`is_blank`] is the same rule in Rust; a test holds the two together.
pub const NOT_BLANK_PATTERN: &str = concat!("^[^\\x00]*[^\\x00", space_class!(), "][^\\x00]*$");

/// The schema pattern of [`check_visible`]: no character [`is_hidden`] refuses.
pub const VISIBLE_TEXT_PATTERN: &str =
    "^[^\\x00-\\x1f\\x7f-\\x9f\\u200e\\u200f\\u061c\\u202a-\\u202e\\u2066-\\u2069]*$";

/// Whether `text` is nothing but what `str::trim` removes: a reason, a name or a variant
/// that says nothing.
pub fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn schema(pattern: &str) -> regex::Regex {
        regex::Regex::new(pattern).expect("the pattern is a regular expression")
    }

    /// The document and the service agree on every character: what the pattern allows in
    /// a one-character text is exactly what `trim` keeps (and `check_visible` allows).
    #[test]
    fn the_patterns_say_what_the_rules_do_for_every_character() {
        let not_blank = schema(NOT_BLANK_PATTERN);
        let visible = schema(VISIBLE_TEXT_PATTERN);
        for c in (0..=0x3100u32)
            .chain([0xfeff, 0xffff, 0x1f600, 0x10ffff])
            .filter_map(char::from_u32)
        {
            let one = c.to_string();
            assert_eq!(
                not_blank.is_match(&one),
                !is_blank(&one) && c != '\0',
                "U+{:04X}",
                u32::from(c)
            );
            assert_eq!(
                visible.is_match(&one),
                check_visible(&one).is_ok(),
                "U+{:04X}",
                u32::from(c)
            );
        }
    }

    proptest! {
        #[test]
        fn not_blank_pattern_and_is_blank_agree(text in "[ \t\u{85}\u{a0}\u{feff}\u{3000}a\u{0}]{0,6}") {
            prop_assert_eq!(schema(NOT_BLANK_PATTERN).is_match(&text), !is_blank(&text) && !text.contains('\0'));
        }
    }

    #[test]
    fn the_named_characters_are_refused() {
        for c in [
            '\0', '\r', '\n', '\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}', '\u{7f}',
        ] {
            assert!(check_visible(&format!("Bo{c}b")).is_err(), "{:?}", c);
        }
        assert!(
            check_visible("José Ñúñez 👩‍⚕️").is_ok(),
            "the emoji joiner stays"
        );
        assert_eq!(visible("A\r\nBcc: x\u{202e}"), "A  Bcc: x");
    }

    proptest! {
        /// What `visible` leaves always passes, and passing text is left as it is.
        #[test]
        fn visible_text_passes(text in "\\PC*|[\\x00-\\x20\u{202a}-\u{202e}a-z]*") {
            let cleaned = visible(&text);
            prop_assert!(check_visible(&cleaned).is_ok());
            if check_visible(&text).is_ok() {
                prop_assert_eq!(cleaned, text);
            }
        }
    }
}

//! Phone numbers: validation and normalisation to E.164 (`+15551230001`).

use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, PhoneNumber, Type};

use crate::error::{Error, Result};

/// Parses `input` as an international number and returns its E.164 form.
///
/// The number must carry its country code (a leading `+`): no default region is assumed, so
/// the same digits never mean different people depending on where the server runs. Spaces,
/// dashes, dots and parentheses are allowed, nothing else. The number must fit its country's numbering plan
/// (shape and length); whether its range is assigned today is not checked, so that test
/// ranges such as `+1 555 …` work and metadata updates do not lock existing users out.
///
/// # Errors
/// [`Error::InvalidPhone`] when `input` is not such a number.
pub(crate) fn normalize(input: &str) -> Result<String> {
    let invalid = || Error::InvalidPhone {
        input: input.to_owned(),
    };
    let trimmed = input.trim();
    let Some(rest) = trimmed.strip_prefix('+') else {
        return Err(invalid());
    };
    // The parser is lenient (letters, extensions, other scripts' digits); accept only what a
    // person types for a plain number, so that what is stored is what was meant.
    let is_plain = rest
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'));
    if !is_plain {
        return Err(invalid());
    }
    let number = phonenumber::parse(None, trimmed).map_err(|_| invalid())?;
    if number.extension().is_some() || !fits_numbering_plan(&number) {
        return Err(invalid());
    }
    Ok(number.format().mode(Mode::E164).to_string())
}

/// Kinds of numbers a person or a device may register with (short and emergency codes are not).
const SUBSCRIBER_TYPES: [Type; 10] = [
    Type::FixedLine,
    Type::Mobile,
    Type::TollFree,
    Type::PremiumRate,
    Type::SharedCost,
    Type::PersonalNumber,
    Type::Voip,
    Type::Pager,
    Type::Uan,
    Type::Voicemail,
];

/// Whether the number fits the numbering plan of one of the regions sharing its country code
/// (+1 is the US, Canada and more): the region's general pattern, and a length that one of
/// its subscriber number types uses.
fn fits_numbering_plan(number: &PhoneNumber) -> bool {
    let national = number.national().to_string();
    let country_code = number.code().value();
    // E.164 allows at most 15 digits, country code included.
    if national.len() + country_code.to_string().len() > 15 {
        return false;
    }
    let Ok(length) = u16::try_from(national.len()) else {
        return false;
    };
    DATABASE.by_code(&country_code).is_some_and(|regions| {
        regions.iter().any(|region| {
            let descriptors = region.descriptors();
            // `is_match` anchors the pattern at the start only, hence the separate length check.
            descriptors.general().is_match(&national)
                && SUBSCRIBER_TYPES
                    .into_iter()
                    .filter_map(|kind| descriptors.get(kind))
                    .any(|descriptor| descriptor.possible_length().contains(&length))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_normalised_to_e164() {
        for (input, expected) in [
            ("+1 555 123 0001", "+15551230001"),
            ("+15551230001", "+15551230001"),
            (" +1 (555) 123-0001 ", "+15551230001"),
            ("+49 170 1234567", "+491701234567"),
            ("+44 20 7946 0958", "+442079460958"),
        ] {
            assert_eq!(normalize(input).ok().as_deref(), Some(expected), "{input}");
        }
    }

    #[test]
    fn invalid_numbers_are_rejected() {
        for input in [
            "",
            "+",
            "5551230001",
            "0170 1234567",
            "+1 555",
            "+1 555 123 0001 999999",
            "+999 1234567",
            "phone",
            "+1 555 123 0001 ext. 12",
            "++15551230001",
            "+١٥٥٥١٢٣٠٠٠١",
            "+1\u{0}5551230001",
            "+0",
            "+()",
            "+ - . ( )",
            "+1 (555",
            "+800 1234 5678 9012 3456",
        ] {
            assert!(
                matches!(normalize(input), Err(Error::InvalidPhone { .. })),
                "{input:?} was accepted"
            );
        }
    }
}

//! Paste ids: 8 characters of `[A-Za-z0-9]` from a cryptographic random source, as LogPaste.

pub const ID_LENGTH: usize = 8;

const ALPHABET: [char; 62] = [
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's',
    't', 'u', 'v', 'w', 'x', 'y', 'z', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L',
    'M', 'N', 'O', 'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', '0', '1', '2', '3', '4',
    '5', '6', '7', '8', '9',
];

/// A fresh random id (nanoid draws from the operating system's CSPRNG-seeded generator).
pub fn generate() -> String {
    nanoid::nanoid!(ID_LENGTH, &ALPHABET)
}

/// Whether `candidate` could be an id we issued; anything else is answered 404 without a query.
pub fn is_well_formed(candidate: &str) -> bool {
    candidate.len() == ID_LENGTH && candidate.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_well_formed_and_differ() {
        let a = generate();
        let b = generate();
        assert!(is_well_formed(&a), "{a}");
        assert!(is_well_formed(&b), "{b}");
        assert_ne!(a, b);
    }

    #[test]
    fn odd_candidates_are_rejected() {
        for bad in ["", "abc", "abcdefghi", "abcd-fgh", "abcdéfg", "../abcde"] {
            assert!(!is_well_formed(bad), "{bad}");
        }
    }
}

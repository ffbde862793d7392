//! Masking of personal fields (数据脱敏), done by the host before anything
//! reaches an app that lacks the personal-fields grant:
//!
//! | field | masked form |
//! |---|---|
//! | name | `张*` (the surname), `J***` for Latin names |
//! | phone | `138****5678` |
//! | ID number | all but the last four characters hidden |
//! | birth date | the year only |
//! | exact address | the building only |
//! | family contact | left out |

/// `张三` → `张*`, `张三丰` → `张**`, `John Smith` → `J***`.
pub fn name(full: &str) -> String {
    let mut chars = full.trim().chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    if is_cjk(first) {
        let rest = chars.count().max(1);
        format!("{first}{}", "*".repeat(rest))
    } else {
        format!("{first}***")
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2EBEF)
}

/// `13812345678` → `138****5678`; shorter numbers keep only their last two
/// digits.
pub fn phone(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    let n = digits.len();
    if n >= 11 {
        let head: String = digits[n - 11..n - 8].iter().collect();
        let tail: String = digits[n - 4..].iter().collect();
        format!("{head}****{tail}")
    } else {
        let keep = n.min(2);
        let tail: String = digits[n - keep..].iter().collect();
        format!("{}{tail}", "*".repeat(n - keep))
    }
}

/// Every character but the last four hidden.
pub fn id_number(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    let keep = chars.len().min(4);
    let tail: String = chars[chars.len() - keep..].iter().collect();
    format!("{}{tail}", "*".repeat(chars.len() - keep))
}

/// `1950-03-07` → `1950`.
pub fn birth_year(date: &str) -> Option<u16> {
    date.get(..4)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_the_surname_only() {
        assert_eq!(name("张三"), "张*");
        assert_eq!(name("欧阳修远"), "欧***");
        assert_eq!(name("John Smith"), "J***");
        assert_eq!(name(""), "");
        assert_eq!(name("李"), "李*");
    }

    #[test]
    fn phones_keep_prefix_and_last_four() {
        assert_eq!(phone("13812345678"), "138****5678");
        assert_eq!(phone("+86 138-1234-5678"), "138****5678");
        assert_eq!(phone("12345"), "***45");
    }

    #[test]
    fn id_numbers_keep_the_last_four() {
        assert_eq!(id_number("11010519491231002X"), "**************002X");
        assert_eq!(id_number("123"), "123");
    }

    #[test]
    fn birth_dates_become_years() {
        assert_eq!(birth_year("1950-03-07"), Some(1950));
        assert_eq!(birth_year("x"), None);
    }
}

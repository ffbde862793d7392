//! CSV export (RFC 4180): fields holding a comma, a quote or a line break are
//! quoted, quotes doubled; lines end in CRLF. The text starts with a UTF-8
//! byte-order mark so spreadsheet programs read Chinese names as UTF-8.

/// A CSV document being written.
pub struct Csv(String);

impl Csv {
    /// A document with its header row.
    pub fn new(header: &[&str]) -> Csv {
        let mut csv = Csv(String::from("\u{feff}"));
        csv.row(header.iter().map(|h| (*h).to_owned()));
        csv
    }

    /// One more row.
    pub fn row(&mut self, fields: impl IntoIterator<Item = String>) {
        for (i, field) in fields.into_iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            self.0.push_str(&quote(&field));
        }
        self.0.push_str("\r\n");
    }

    /// The text.
    pub fn finish(self) -> String {
        self.0
    }
}

/// One field, quoted when it must be.
pub fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_that_need_it_are_quoted() {
        let mut csv = Csv::new(&["name", "unit"]);
        csv.row(["张三".to_owned(), "区委办公室, \"一科\"".to_owned()]);
        csv.row(["李四".to_owned(), "line\nbreak".to_owned()]);
        assert_eq!(
            csv.finish(),
            "\u{feff}name,unit\r\n张三,\"区委办公室, \"\"一科\"\"\"\r\n李四,\"line\nbreak\"\r\n"
        );
    }
}

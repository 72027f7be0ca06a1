//! The forms of interval text PostgreSQL reads beyond a list of quantities
//! and units (`1 day 2 hours`), rewritten to such a list, which the parser
//! downstream (Arrow's) reads: clock times (`04:05:06.7`, `1:30`, `-01:00`),
//! the `@` prefix and `ago` suffix of PostgreSQL's verbose style, units
//! written onto their numbers (`1day`), and ISO 8601 durations (`P1DT2H`,
//! `P2W`).

/// `s` as a list of quantities and units, or `None` when it needs no
/// rewrite or is in no form read here.
pub fn interval_text(s: &str) -> Option<String> {
    let t = s.trim();
    if let Some(duration) = t.strip_prefix(['P', 'p']) {
        return iso8601(duration);
    }
    let verbose = t.starts_with('@');
    let t = t.strip_prefix('@').unwrap_or(t);
    let mut words: Vec<&str> = t.split_whitespace().collect();
    let ago = words.last().is_some_and(|w| w.eq_ignore_ascii_case("ago"));
    if ago {
        words.pop();
    }
    let glued = |w: &&str| {
        w.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.')
            && w.contains(|c: char| c.is_ascii_alphabetic())
    };
    if !verbose && !ago && !words.iter().any(|w| w.contains(':') || glued(w)) {
        return None;
    }
    let mut parts: Vec<(String, &str)> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let word = words[i];
        i += 1;
        if word.contains(':') {
            parts.extend(clock(word)?);
            continue;
        }
        let (number, unit) = match word.find(|c: char| c.is_ascii_alphabetic()) {
            Some(at) if at > 0 => (&word[..at], &word[at..]),
            Some(_) => return None,
            None => {
                let unit = *words.get(i)?;
                i += 1;
                (word, unit)
            }
        };
        number.parse::<f64>().ok().filter(|n| n.is_finite())?;
        parts.push((number.to_owned(), unit));
    }
    if parts.is_empty() {
        return None;
    }
    let text: Vec<String> = parts
        .into_iter()
        .map(|(number, unit)| {
            let number = if ago { negate(&number) } else { number };
            format!("{number} {unit}")
        })
        .collect();
    Some(text.join(" "))
}

fn negate(number: &str) -> String {
    match number.strip_prefix('-') {
        Some(positive) => positive.to_owned(),
        None => format!("-{}", number.strip_prefix('+').unwrap_or(number)),
    }
}

/// `[±]H:MM[:SS[.fraction]]` as hours, minutes and seconds, each signed.
fn clock(word: &str) -> Option<Vec<(String, &'static str)>> {
    let (sign, rest) = match word.as_bytes().first()? {
        b'-' => ("-", &word[1..]),
        b'+' => ("", &word[1..]),
        _ => ("", word),
    };
    let mut fields = rest.split(':');
    let hours = fields.next()?;
    let minutes = fields.next()?;
    let seconds = fields.next();
    if fields.next().is_some() {
        return None;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(hours) || !digits(minutes) || minutes.len() != 2 {
        return None;
    }
    let mut parts = vec![
        (format!("{sign}{hours}"), "hours"),
        (format!("{sign}{minutes}"), "minutes"),
    ];
    if let Some(seconds) = seconds {
        let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, ""));
        if whole.len() != 2 || !digits(whole) || !(fraction.is_empty() || digits(fraction)) {
            return None;
        }
        parts.push((format!("{sign}{seconds}"), "seconds"));
    }
    Some(parts)
}

/// `[nY][nM][nW][nD][T[nH][nM][nS]]`, the part after `P`.
fn iso8601(duration: &str) -> Option<String> {
    let mut parts = Vec::new();
    let mut in_time = false;
    let mut number = String::new();
    for c in duration.chars() {
        match c.to_ascii_uppercase() {
            'T' if !in_time && number.is_empty() => in_time = true,
            '0'..='9' | '.' | '-' => number.push(c),
            designator => {
                let unit = match (designator, in_time) {
                    ('Y', false) => "years",
                    ('M', false) => "months",
                    ('W', false) => "weeks",
                    ('D', false) => "days",
                    ('H', true) => "hours",
                    ('M', true) => "minutes",
                    ('S', true) => "seconds",
                    _ => return None,
                };
                number.parse::<f64>().ok().filter(|n| n.is_finite())?;
                parts.push(format!("{} {unit}", std::mem::take(&mut number)));
            }
        }
    }
    (number.is_empty() && !parts.is_empty()).then(|| parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_interval_forms_become_unit_lists() {
        let cases = [
            ("01:00:00", "01 hours 00 minutes 00 seconds"),
            ("1:30", "1 hours 30 minutes"),
            ("-01:00", "-01 hours -00 minutes"),
            ("1 day 02:00:00", "1 day 02 hours 00 minutes 00 seconds"),
            (
                "1 year 2 months 3 days 04:05:06.7",
                "1 year 2 months 3 days 04 hours 05 minutes 06.7 seconds",
            ),
            ("@ 1 hour ago", "-1 hour"),
            ("@ 2 days -3 hours ago", "-2 days 3 hours"),
            ("1day", "1 day"),
            ("P1DT2H", "1 days 2 hours"),
            (
                "P1Y2M3DT4H5M6.5S",
                "1 years 2 months 3 days 4 hours 5 minutes 6.5 seconds",
            ),
            ("P2W", "2 weeks"),
            ("PT1M", "1 minutes"),
        ];
        for (text, want) in cases {
            assert_eq!(interval_text(text).as_deref(), Some(want), "{text}");
        }
    }

    #[test]
    fn plain_or_unreadable_text_is_left_alone() {
        for text in [
            "1 day",
            "2 hours 30 minutes",
            "",
            "P",
            "PT",
            "P1H",
            "P1DT2D",
            "1:3",
            "1:30:5",
            "a:b",
            "@",
            "@ day",
            "@ 1",
            "1:00:00:00",
        ] {
            assert_eq!(interval_text(text), None, "{text}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_rewritten_or_left_without_panicking(text in "[0-9A-Za-z :.@+-]{0,30}") {
            let _ = interval_text(&text);
        }
    }
}

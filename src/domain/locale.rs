//! The languages customers are written to in, and how each writes amounts
//! and dates: `19,99 €` in German, `$19.99` in English, `¥1,000` without
//! decimals for yen (the currency's own minor units decide).

use std::fmt;

use chrono::{Datelike, NaiveDate, Weekday};
use rust_decimal::Decimal;

use super::money::Currency;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Locale {
    #[default]
    En,
    De,
    Fr,
    Es,
    /// Portugal's Portuguese (`pt`, `pt-PT`, and every region but Brazil).
    Pt,
    /// Brazil's (`pt-BR`): its own words ("você", "cadastrado"), its own
    /// money ("R$ 49,90", "US$ 49,00").
    PtBr,
}

impl Locale {
    pub const ALL: [Locale; 6] = [Self::En, Self::De, Self::Fr, Self::Es, Self::Pt, Self::PtBr];

    /// A language tag as Stripe's `preferred_locales` or a browser's
    /// `Accept-Language` writes it (`de`, `de-AT`, `pt_BR`); `None` for a
    /// language not shipped. Portuguese is Brazil's for `pt-BR`, else
    /// Portugal's.
    pub fn parse(tag: &str) -> Option<Self> {
        let mut parts = tag.trim().split(['-', '_', ';']);
        let language = parts.next()?.to_ascii_lowercase();
        let region = parts.next().map(str::to_ascii_lowercase);
        if language == "pt" && region.as_deref() == Some("br") {
            return Some(Self::PtBr);
        }
        Self::ALL.into_iter().find(|l| l.as_str() == language)
    }

    /// The first shipped language of a list in order of preference.
    pub fn first_of<'a>(tags: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        tags.into_iter().find_map(Self::parse)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
            Self::Fr => "fr",
            Self::Es => "es",
            Self::Pt => "pt",
            Self::PtBr => "pt-BR",
        }
    }

    /// The CLDR plural category of `n` in this language (`one`, `other`,
    /// …), by the CLDR's own rules: "1 day" but "0 jour" in French, as
    /// the templates then choose their words.
    pub fn plural(self, n: u64) -> &'static str {
        use intl_pluralrules::{PluralCategory, PluralRuleType, PluralRules};
        let tag = match self {
            // The Portuguese written here is Portugal's (Brazil's rules
            // differ for 0).
            Self::Pt => "pt-PT",
            Self::PtBr => "pt",
            other => other.as_str(),
        };
        let category = tag
            .parse::<unic_langid::LanguageIdentifier>()
            .ok()
            .and_then(|id| PluralRules::create(id, PluralRuleType::CARDINAL).ok())
            .and_then(|rules| rules.select(n).ok());
        match category {
            Some(PluralCategory::ZERO) => "zero",
            Some(PluralCategory::ONE) => "one",
            Some(PluralCategory::TWO) => "two",
            Some(PluralCategory::FEW) => "few",
            Some(PluralCategory::MANY) => "many",
            Some(PluralCategory::OTHER) | None => "other",
        }
    }

    /// `amount` minor units of `currency` as this language writes money.
    pub fn money(self, minor: i64, currency: &str) -> String {
        let Ok(code) = Currency::parse(currency) else {
            return format!("{minor} {currency}");
        };
        let exponent = code.exponent();
        let number = self.number(Decimal::new(minor, exponent), exponent);
        let upper = code.as_str().to_ascii_uppercase();
        match (self, self.symbol(code.as_str())) {
            (Self::En, Some(sym)) => format!("{sym}{number}"),
            (Self::En, None) => format!("{upper} {number}"),
            (Self::Pt, Some("R$")) => format!("R$ {number}"),
            // Brazil writes every currency before the amount.
            (Self::PtBr, Some(sym)) => format!("{sym} {number}"),
            (Self::PtBr, None) => format!("{upper} {number}"),
            (_, Some(sym)) => format!("{number} {sym}"),
            (_, None) => format!("{number} {upper}"),
        }
    }

    /// `value` with `decimals` places, grouped the way this language does.
    fn number(self, value: Decimal, decimals: u32) -> String {
        let text = format!("{:.*}", decimals as usize, value.abs());
        let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
        let (group, point) = match self {
            Self::En => (",", "."),
            Self::De | Self::Es | Self::Pt | Self::PtBr => (".", ","),
            Self::Fr => ("\u{202f}", ","),
        };
        let digits: Vec<char> = int.chars().collect();
        let mut grouped = String::new();
        for (i, d) in digits.iter().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push_str(group);
            }
            grouped.push(*d);
        }
        let sign = if value.is_sign_negative() { "-" } else { "" };
        if frac.is_empty() {
            format!("{sign}{grouped}")
        } else {
            format!("{sign}{grouped}{point}{frac}")
        }
    }

    /// A day as a letter names it: "Tuesday 24 March 2026",
    /// "Dienstag, 24. März 2026", "mardi 24 mars 2026".
    pub fn date(self, date: NaiveDate) -> String {
        let (day, month, year) = (date.day(), self.month(date.month()), date.year());
        let weekday = self.weekday(date.weekday());
        match self {
            Self::En => format!("{weekday} {day} {month} {year}"),
            Self::De => format!("{weekday}, {day}. {month} {year}"),
            Self::Fr => format!("{weekday} {day} {month} {year}"),
            Self::Es => format!("{weekday}, {day} de {month} de {year}"),
            // The weekday last: "em 10 de dezembro de 2026 (quinta-feira)"
            // reads right after every preposition ("em quinta-feira" does not).
            Self::Pt | Self::PtBr => format!("{day} de {month} de {year} ({weekday})"),
        }
    }

    /// A day without its weekday: "24 March 2026", "24. März 2026".
    pub fn short_date(self, date: NaiveDate) -> String {
        let (day, month, year) = (date.day(), self.month(date.month()), date.year());
        match self {
            Self::En | Self::Fr => format!("{day} {month} {year}"),
            Self::De => format!("{day}. {month} {year}"),
            Self::Es | Self::Pt | Self::PtBr => format!("{day} de {month} de {year}"),
        }
    }

    /// A card's last month: "March 2026", "März 2026", "marzo de 2026".
    pub fn month_year(self, year: i32, month: u32) -> String {
        let name = self.month(month);
        match self {
            Self::Es | Self::Pt | Self::PtBr => format!("{name} de {year}"),
            _ => format!("{name} {year}"),
        }
    }

    fn month(self, month: u32) -> &'static str {
        const EN: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        const DE: [&str; 12] = [
            "Januar",
            "Februar",
            "März",
            "April",
            "Mai",
            "Juni",
            "Juli",
            "August",
            "September",
            "Oktober",
            "November",
            "Dezember",
        ];
        const FR: [&str; 12] = [
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ];
        const ES: [&str; 12] = [
            "enero",
            "febrero",
            "marzo",
            "abril",
            "mayo",
            "junio",
            "julio",
            "agosto",
            "septiembre",
            "octubre",
            "noviembre",
            "diciembre",
        ];
        const PT: [&str; 12] = [
            "janeiro",
            "fevereiro",
            "março",
            "abril",
            "maio",
            "junho",
            "julho",
            "agosto",
            "setembro",
            "outubro",
            "novembro",
            "dezembro",
        ];
        let names = match self {
            Self::En => EN,
            Self::De => DE,
            Self::Fr => FR,
            Self::Es => ES,
            Self::Pt | Self::PtBr => PT,
        };
        names[(month.clamp(1, 12) - 1) as usize]
    }

    fn weekday(self, day: Weekday) -> &'static str {
        const EN: [&str; 7] = [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ];
        const DE: [&str; 7] = [
            "Montag",
            "Dienstag",
            "Mittwoch",
            "Donnerstag",
            "Freitag",
            "Samstag",
            "Sonntag",
        ];
        const FR: [&str; 7] = [
            "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
        ];
        const ES: [&str; 7] = [
            "lunes",
            "martes",
            "miércoles",
            "jueves",
            "viernes",
            "sábado",
            "domingo",
        ];
        const PT: [&str; 7] = [
            "segunda-feira",
            "terça-feira",
            "quarta-feira",
            "quinta-feira",
            "sexta-feira",
            "sábado",
            "domingo",
        ];
        let names = match self {
            Self::En => EN,
            Self::De => DE,
            Self::Fr => FR,
            Self::Es => ES,
            Self::Pt | Self::PtBr => PT,
        };
        names[day.num_days_from_monday() as usize]
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The sign customers know a currency by; `None`: written as its code.
impl Locale {
    /// The currency's symbol as this language writes it (CLDR): a dollar
    /// sign alone means the local dollar outside English, so French writes
    /// `$US` and `$CA`, Spanish and Portuguese `US$`.
    fn symbol(self, code: &str) -> Option<&'static str> {
        Some(match (self, code) {
            (Self::Fr, "usd") => "$US",
            (Self::Fr, "cad") => "$CA",
            (Self::Fr, "aud") => "$AU",
            (Self::Fr, "nzd") => "$NZ",
            (Self::Fr, "mxn") => "$MX",
            (Self::Es | Self::Pt | Self::PtBr, "usd") => "US$",
            _ => return symbol(code),
        })
    }
}

fn symbol(code: &str) -> Option<&'static str> {
    Some(match code {
        "usd" => "$",
        "eur" => "€",
        "gbp" => "£",
        "jpy" => "¥",
        "cny" => "CN¥",
        "inr" => "₹",
        "krw" => "₩",
        "brl" => "R$",
        "cad" => "CA$",
        "aud" => "A$",
        "nzd" => "NZ$",
        "mxn" => "MX$",
        "ils" => "₪",
        "vnd" => "₫",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_written_as_each_language_writes_them() {
        assert_eq!(Locale::En.money(4900, "usd"), "$49.00");
        assert_eq!(Locale::De.money(1999, "eur"), "19,99 €");
        assert_eq!(Locale::Fr.money(123_456, "eur"), "1\u{202f}234,56 €");
        assert_eq!(Locale::En.money(1000, "jpy"), "¥1,000");
        assert_eq!(Locale::De.money(1000, "jpy"), "1.000 ¥");
        assert_eq!(Locale::Pt.money(4990, "brl"), "R$ 49,90");
        // CLDR plural categories, from the CLDR's rules.
        assert_eq!(Locale::En.plural(1), "one");
        assert_eq!(Locale::En.plural(0), "other");
        assert_eq!(Locale::Fr.plural(0), "one");
        assert_eq!(Locale::Fr.plural(1), "one");
        assert_eq!(Locale::De.plural(3), "other");
        assert_eq!(Locale::Pt.plural(0), "other");
        // A dollar sign alone is the reader's own dollar outside English.
        assert_eq!(Locale::Fr.money(4900, "usd"), "49,00 $US");
        assert_eq!(Locale::Es.money(4900, "usd"), "49,00 US$");
        assert_eq!(Locale::Pt.money(4900, "usd"), "49,00 US$");
        assert_eq!(Locale::Fr.money(4900, "cad"), "49,00 $CA");
        assert_eq!(Locale::En.money(4900, "chf"), "CHF 49.00");
        assert_eq!(Locale::De.money(4900, "chf"), "49,00 CHF");
        assert_eq!(Locale::En.money(1234, "kwd"), "KWD 1.234");
        assert_eq!(Locale::Es.money(123_456_789, "eur"), "1.234.567,89 €");
        assert_eq!(Locale::En.money(5, "x"), "5 x");
    }

    #[test]
    fn dates_read_naturally() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 24).unwrap();
        assert_eq!(Locale::En.date(d), "Tuesday 24 March 2026");
        assert_eq!(Locale::De.date(d), "Dienstag, 24. März 2026");
        assert_eq!(Locale::Fr.date(d), "mardi 24 mars 2026");
        assert_eq!(Locale::Es.date(d), "martes, 24 de marzo de 2026");
        assert_eq!(Locale::Pt.date(d), "24 de março de 2026 (terça-feira)");
        assert_eq!(Locale::De.short_date(d), "24. März 2026");
        assert_eq!(Locale::Es.month_year(2026, 12), "diciembre de 2026");
    }

    #[test]
    fn tags_pick_a_shipped_language() {
        assert_eq!(Locale::parse("de-AT"), Some(Locale::De));
        assert_eq!(Locale::parse("pt_BR"), Some(Locale::PtBr));
        assert_eq!(Locale::parse("pt-BR"), Some(Locale::PtBr));
        assert_eq!(Locale::parse("pt-PT"), Some(Locale::Pt));
        assert_eq!(Locale::parse("pt"), Some(Locale::Pt));
        assert_eq!(Locale::PtBr.money(4990, "brl"), "R$ 49,90");
        assert_eq!(Locale::PtBr.money(4900, "usd"), "US$ 49,00");
        assert_eq!(Locale::PtBr.money(1_234_500, "eur"), "€ 12.345,00");
        assert_eq!(Locale::parse("FR"), Some(Locale::Fr));
        assert_eq!(Locale::parse("nl"), None);
        assert_eq!(Locale::parse(""), None);
        assert_eq!(Locale::first_of(["nl", "es-MX", "en"]), Some(Locale::Es));
    }
}

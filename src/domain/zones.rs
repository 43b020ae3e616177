//! A customer's time zone from what the processor tells us of them: the
//! invoice's customer address, else the card's issuing country, else the
//! policy's default. A country with several zones gets the one most of its
//! people live in.

use chrono_tz::Tz;

/// Where a case's time zone came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneSource {
    /// The invoice's `customer_address.country`.
    InvoiceAddress,
    /// The customer's own address at the processor (read when the events
    /// did not place them).
    CustomerAddress,
    /// The refused card's issuing country.
    CardCountry,
    /// `policy.default_timezone`: nothing told us better.
    Policy,
}

impl ZoneSource {
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::InvoiceAddress,
            Self::CustomerAddress,
            Self::CardCountry,
            Self::Policy,
        ]
        .into_iter()
        .find(|z| z.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvoiceAddress => "invoice_address",
            Self::CustomerAddress => "customer_address",
            Self::CardCountry => "card_country",
            Self::Policy => "policy_default",
        }
    }

    /// Which of two sources to believe: an address the customer gave over
    /// the card's bank, either over the default.
    pub fn rank(self) -> u8 {
        match self {
            Self::InvoiceAddress | Self::CustomerAddress => 2,
            Self::CardCountry => 1,
            Self::Policy => 0,
        }
    }
}

/// The time zone most of `country`'s (ISO 3166 alpha-2) people live in.
pub fn of_country(country: &str) -> Option<Tz> {
    use chrono_tz::{Africa, America, Asia, Australia, Europe, Pacific};
    Some(match country.trim().to_ascii_uppercase().as_str() {
        "US" => America::New_York,
        "CA" => America::Toronto,
        "MX" => America::Mexico_City,
        "BR" => America::Sao_Paulo,
        "AR" => America::Argentina::Buenos_Aires,
        "CL" => America::Santiago,
        "CO" => America::Bogota,
        "PE" => America::Lima,
        "GB" | "UK" => Europe::London,
        "IE" => Europe::Dublin,
        "PT" => Europe::Lisbon,
        "ES" => Europe::Madrid,
        "FR" => Europe::Paris,
        "DE" => Europe::Berlin,
        "NL" => Europe::Amsterdam,
        "BE" => Europe::Brussels,
        "LU" => Europe::Luxembourg,
        "IT" => Europe::Rome,
        "CH" => Europe::Zurich,
        "AT" => Europe::Vienna,
        "SE" => Europe::Stockholm,
        "NO" => Europe::Oslo,
        "DK" => Europe::Copenhagen,
        "FI" => Europe::Helsinki,
        "PL" => Europe::Warsaw,
        "CZ" => Europe::Prague,
        "GR" => Europe::Athens,
        "RO" => Europe::Bucharest,
        "HU" => Europe::Budapest,
        "UA" => Europe::Kyiv,
        "TR" => Europe::Istanbul,
        "RU" => Europe::Moscow,
        "IL" => Asia::Jerusalem,
        "AE" => Asia::Dubai,
        "SA" => Asia::Riyadh,
        "IN" => Asia::Kolkata,
        "PK" => Asia::Karachi,
        "BD" => Asia::Dhaka,
        "TH" => Asia::Bangkok,
        "VN" => Asia::Ho_Chi_Minh,
        "ID" => Asia::Jakarta,
        "MY" => Asia::Kuala_Lumpur,
        "PH" => Asia::Manila,
        "CN" => Asia::Shanghai,
        "TW" => Asia::Taipei,
        "KR" => Asia::Seoul,
        "JP" => Asia::Tokyo,
        "SG" => Asia::Singapore,
        "HK" => Asia::Hong_Kong,
        "AU" => Australia::Sydney,
        "NZ" => Pacific::Auckland,
        "ZA" => Africa::Johannesburg,
        "NG" => Africa::Lagos,
        "KE" => Africa::Nairobi,
        "EG" => Africa::Cairo,
        _ => return None,
    })
}

/// The case's zone from the best signal among `(country, source)` pairs,
/// else the policy's `default`.
pub fn pick(signals: &[(Option<&str>, ZoneSource)], default: Tz) -> (Tz, ZoneSource) {
    signals
        .iter()
        .filter_map(|(country, source)| Some((of_country((*country)?)?, *source)))
        .max_by_key(|(_, source)| source.rank())
        .unwrap_or((default, ZoneSource::Policy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_get_their_most_populous_zone() {
        assert_eq!(of_country("us"), Some(chrono_tz::America::New_York));
        assert_eq!(of_country("BR"), Some(chrono_tz::America::Sao_Paulo));
        assert_eq!(of_country("AU"), Some(chrono_tz::Australia::Sydney));
        assert_eq!(of_country("DE"), Some(chrono_tz::Europe::Berlin));
        assert_eq!(of_country("ZZ"), None);
    }

    #[test]
    fn the_address_beats_the_card_and_both_beat_the_default() {
        let utc = chrono_tz::UTC;
        assert_eq!(
            pick(
                &[
                    (Some("JP"), ZoneSource::CardCountry),
                    (Some("FR"), ZoneSource::InvoiceAddress)
                ],
                utc
            ),
            (chrono_tz::Europe::Paris, ZoneSource::InvoiceAddress)
        );
        assert_eq!(
            pick(
                &[
                    (Some("JP"), ZoneSource::CardCountry),
                    (None, ZoneSource::InvoiceAddress)
                ],
                utc
            ),
            (chrono_tz::Asia::Tokyo, ZoneSource::CardCountry)
        );
        assert_eq!(
            pick(&[(Some("ZZ"), ZoneSource::InvoiceAddress)], utc),
            (utc, ZoneSource::Policy)
        );
    }
}

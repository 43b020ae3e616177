//! The operator's branding (`[brand]`): who the customer hears from in
//! every email and on the billing page.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Brand {
    /// The product or company the customer knows ("Acme").
    pub name: String,
    /// Where replies go (`Reply-To`) and where the page sends questions.
    pub support_email: Option<String>,
    pub website: Option<String>,
    /// An `https://` image shown atop emails and the page.
    pub logo_url: Option<String>,
    /// `#rrggbb`: buttons (white text on it) and links (on the page's
    /// light background): always at least `MIN_CONTRAST` against both.
    pub accent: String,
    /// The operator's colour when it was too light to read and `accent`
    /// is a darker shade of it (a warning says so).
    pub accent_adjusted_from: Option<String>,
    /// The name emails come from; the brand's name when unset.
    pub sender_name: Option<String>,
}

impl Default for Brand {
    fn default() -> Self {
        Self {
            name: "Billing".into(),
            support_email: None,
            website: None,
            logo_url: None,
            accent: "#2563eb".into(),
            accent_adjusted_from: None,
            sender_name: None,
        }
    }
}

/// `[brand]` as written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBrand {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accent_color: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<String>,
}

/// Text that goes into a header or a line of its own: no control
/// characters (a CR or LF could add a header), not blank, not endless.
fn plain(key: &str, value: &str, errors: &mut Vec<String>) -> Option<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 100 || value.chars().any(char::is_control) {
        errors.push(format!(
            "brand.{key}: must be 1 to 100 characters on one line, got {value:?}"
        ));
        return None;
    }
    Some(value.to_owned())
}

fn is_address(value: &str) -> bool {
    value.split_once('@').is_some_and(|(user, host)| {
        !user.is_empty() && host.contains('.') && !value.contains(char::is_whitespace)
    }) && !value.contains(['<', '>', '"', ','])
}

impl RawBrand {
    pub fn validate(self) -> Result<Brand, Vec<String>> {
        let mut errors = Vec::new();
        let default = Brand::default();
        let name = match &self.name {
            Some(n) => plain("name", n, &mut errors).unwrap_or_default(),
            None => default.name,
        };
        let sender_name = self
            .sender_name
            .as_deref()
            .and_then(|n| plain("sender_name", n, &mut errors));
        let support_email = self.support_email.map(|e| e.trim().to_owned());
        if let Some(email) = &support_email
            && (!is_address(email) || email.chars().any(char::is_control))
        {
            errors.push(format!(
                "brand.support_email: must be an address like help@example.com, got {email:?}"
            ));
        }
        let url = |key: &str, value: Option<String>, https_only: bool, errors: &mut Vec<String>| {
            let value = value?.trim().to_owned();
            let ok = match reqwest::Url::parse(&value) {
                Ok(u) => u.scheme() == "https" || (!https_only && u.scheme() == "http"),
                Err(_) => false,
            };
            if !ok {
                let want = if https_only {
                    "an https:// URL"
                } else {
                    "an http(s):// URL"
                };
                errors.push(format!("brand.{key}: must be {want}, got {value:?}"));
                return None;
            }
            Some(value)
        };
        let website = url("website", self.website, false, &mut errors);
        let logo_url = url("logo_url", self.logo_url, true, &mut errors);
        let accent = self.accent_color.unwrap_or(default.accent);
        let hex = accent.len() == 7
            && accent.starts_with('#')
            && accent[1..].bytes().all(|b| b.is_ascii_hexdigit());
        if !hex {
            errors.push(format!(
                "brand.accent_color: must be a colour like \"#2563eb\", got {accent:?}"
            ));
        }
        if errors.is_empty() {
            let given = accent.to_ascii_lowercase();
            let readable = readable_accent(&given);
            Ok(Brand {
                name,
                support_email,
                website,
                logo_url,
                accent_adjusted_from: (readable != given).then_some(given),
                accent: readable,
                sender_name,
            })
        } else {
            Err(errors)
        }
    }
}

/// WCAG AA's contrast for normal text: white button text on the accent,
/// and accent links on the page's background, must reach it.
pub const MIN_CONTRAST: f64 = 4.5;

/// The lightest background the accent sits on (the billing page's).
const PAGE_BACKGROUND: (u8, u8, u8) = (0xf5, 0xf7, 0xfa);

fn rgb(hex: &str) -> (u8, u8, u8) {
    let part = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0);
    (part(1), part(3), part(5))
}

/// WCAG 2's relative luminance of an sRGB colour.
fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
    let channel = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
}

/// WCAG 2's contrast ratio of two colours (1 to 21).
pub fn contrast(a: (u8, u8, u8), b: (u8, u8, u8)) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// The accent's contrast against white and against the page, the lower.
pub fn accent_contrast(hex: &str) -> f64 {
    let c = rgb(hex);
    contrast(c, (255, 255, 255)).min(contrast(c, PAGE_BACKGROUND))
}

/// `hex` itself when it reads well enough on white and on the page, else
/// the lightest darker shade of it that does (same hue, towards black).
pub fn readable_accent(hex: &str) -> String {
    if accent_contrast(hex) >= MIN_CONTRAST {
        return hex.to_owned();
    }
    let (r, g, b) = rgb(hex);
    for step in 1..=100u32 {
        let keep = 1.0 - f64::from(step) / 100.0;
        let shade = |c: u8| (f64::from(c) * keep).round() as u8;
        let candidate = format!("#{:02x}{:02x}{:02x}", shade(r), shade(g), shade(b));
        if accent_contrast(&candidate) >= MIN_CONTRAST {
            return candidate;
        }
    }
    "#000000".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_light_accent_is_darkened_until_it_reads_and_a_dark_one_is_kept() {
        // The default, and a typical dark brand colour: kept.
        assert_eq!(readable_accent("#2563eb"), "#2563eb");
        assert!(accent_contrast("#2563eb") >= MIN_CONTRAST);
        assert_eq!(readable_accent("#4f46e5"), "#4f46e5");
        // Yellow on white reads at about 1.1:1: a darker shade of it.
        for light in ["#ffeb3b", "#93c5fd", "#00ff00", "#ffffff"] {
            let fixed = readable_accent(light);
            assert_ne!(fixed, light);
            assert!(
                accent_contrast(&fixed) >= MIN_CONTRAST,
                "{light} -> {fixed}"
            );
            // Only just: the lightest such shade, not black.
            assert_ne!(fixed, "#000000", "{light}");
        }
        // WCAG's own reference figures.
        assert!((contrast((0, 0, 0), (255, 255, 255)) - 21.0).abs() < 1e-9);
        assert!((contrast((0x77, 0x77, 0x77), (255, 255, 255)) - 4.48).abs() < 0.01);
        let raw = RawBrand {
            accent_color: Some("#FFEB3B".into()),
            ..RawBrand::default()
        };
        let brand = raw.validate().unwrap();
        assert_eq!(brand.accent_adjusted_from.as_deref(), Some("#ffeb3b"));
        assert!(accent_contrast(&brand.accent) >= MIN_CONTRAST);
    }

    #[test]
    fn a_brand_is_checked_key_by_key() {
        let raw = RawBrand {
            name: Some("Acme\r\nBcc: victim@example.com".into()),
            support_email: Some("help@example.com\r\nX: y".into()),
            website: Some("javascript:alert(1)".into()),
            logo_url: Some("http://cdn.example.com/logo.png".into()),
            accent_color: Some("red".into()),
            sender_name: None,
        };
        let errors = raw.validate().unwrap_err();
        for key in [
            "name",
            "support_email",
            "website",
            "logo_url",
            "accent_color",
        ] {
            assert!(
                errors
                    .iter()
                    .any(|e| e.starts_with(&format!("brand.{key}:"))),
                "{key}: {errors:?}"
            );
        }
        let ok = RawBrand {
            name: Some("Acme".into()),
            support_email: Some("help@acme.example".into()),
            accent_color: Some("#0E7490".into()),
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(ok.accent, "#0e7490");
        assert_eq!(RawBrand::default().validate().unwrap(), Brand::default());
    }
}

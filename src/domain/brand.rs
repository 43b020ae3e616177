//! The operator's branding (`[brand]`): who the customer hears from in
//! every email and on the billing page.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq)]
pub struct Brand {
    /// The product or company the customer knows ("Acme").
    pub name: String,
    /// Where replies go (`Reply-To`) and where the page sends questions.
    pub support_email: Option<String>,
    pub website: Option<String>,
    /// An `https://` image shown atop emails and the page.
    pub logo_url: Option<String>,
    /// `#rrggbb`: buttons and links.
    pub accent: String,
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
            Ok(Brand {
                name,
                support_email,
                website,
                logo_url,
                accent: accent.to_ascii_lowercase(),
                sender_name,
            })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

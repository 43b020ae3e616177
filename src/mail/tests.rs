//! Every kind × tone × language, in both formats, as insta snapshots
//! (`src/mail/snapshots/`), and the promises each email keeps.

use super::*;
use crate::domain::policy::RawPolicy;

fn policy_with_offer() -> Policy {
    let raw: RawPolicy = toml::from_str(
        r#"
[[offers]]
id = "yearly"
kind = "plan_change"
price = "price_yearly"
label = "Switch to yearly and save 20%"
"#,
    )
    .unwrap();
    raw.validate().unwrap()
}

fn brand() -> Brand {
    Brand {
        name: "Acme".into(),
        support_email: Some("help@acme.example".into()),
        website: Some("https://acme.example".into()),
        ..Brand::default()
    }
}

fn view(tone: &'static str, locale: Locale) -> MailView {
    sample_view(&policy_with_offer(), &brand(), tone, locale)
}

#[test]
fn every_kind_tone_and_language_renders_as_recorded() {
    for locale in Locale::ALL {
        for kind in MailKind::ALL {
            let mut all = String::new();
            for tone in ["friendly", "firm", "final"] {
                let r = render(kind, &view(tone, locale)).unwrap();
                all.push_str(&format!(
                    "==== {tone}\nSubject: {}\n---- text\n{}\n---- html\n{}\n",
                    r.subject, r.text, r.html
                ));
            }
            insta::assert_snapshot!(format!("{}_{}", kind.as_str(), locale.as_str()), all);
        }
    }
}

#[test]
fn every_email_has_its_parts() {
    for locale in Locale::ALL {
        for kind in MailKind::ALL {
            for tone in ["friendly", "firm", "final"] {
                let v = view(tone, locale);
                let r = render(kind, &v).unwrap();
                let what = format!("{kind:?} {tone} {locale}");
                assert!(!r.subject.is_empty() && !r.subject.contains('\n'), "{what}");
                assert!(r.html.starts_with("<!doctype html>"), "{what}");
                assert!(r.html.contains(&format!("lang=\"{locale}\"")), "{what}");
                // Every email carries the signed link, in both bodies.
                assert!(r.text.contains(&v.update_url), "{what}");
                assert!(r.html.contains(&v.update_url), "{what}");
                assert!(r.text.contains("Ada") && r.html.contains("Ada"), "{what}");
                assert!(r.text.contains("Acme") && r.html.contains("Acme"), "{what}");
                assert!(!r.text.contains("The billing team"), "{what}");
                assert!(
                    !r.text.contains("{{") && !r.text.contains("{name}"),
                    "{what}"
                );
                if kind != MailKind::CardExpiring {
                    assert!(r.text.contains(&v.amount), "{what}");
                }
            }
        }
    }
}

#[test]
fn amounts_and_dates_follow_the_language() {
    let de = render(MailKind::PaymentFailed, &view("friendly", Locale::De)).unwrap();
    assert!(de.text.contains("49,00 $"), "{}", de.text);
    assert!(de.text.contains("Freitag, 6. März 2026"), "{}", de.text);
    let en = render(MailKind::PaymentFailed, &view("friendly", Locale::En)).unwrap();
    assert!(en.text.contains("$49.00"), "{}", en.text);
    assert!(en.text.contains("Friday 6 March 2026"), "{}", en.text);
}

#[test]
fn stages_read_differently_and_say_what_happens_next() {
    let friendly = render(MailKind::PaymentFailed, &view("friendly", Locale::En)).unwrap();
    let first = render(MailKind::PaymentFailed, &view("firm", Locale::En)).unwrap();
    let second_view = MailView {
        reminder: 2,
        ordinal: words::ordinal(Locale::En, 2),
        days: 7,
        ..view("firm", Locale::En)
    };
    let second = render(MailKind::PaymentFailed, &second_view).unwrap();
    let last = render(MailKind::FinalNotice, &view("final", Locale::En)).unwrap();
    let all = [&friendly, &first, &second, &last];
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert_ne!(a.subject, b.subject);
            assert_ne!(a.text, b.text);
        }
    }
    assert!(
        friendly
            .text
            .contains("We'll try again on Friday 6 March 2026")
    );
    assert!(
        second.subject.starts_with("Second reminder"),
        "{}",
        second.subject
    );
    assert!(
        second
            .text
            .contains("stays active until Tuesday 24 March 2026")
    );
    assert!(
        last.text
            .contains("At the end of Tuesday 24 March 2026, your subscription will be canceled")
    );
    assert!(!friendly.text.contains("canceled"));
}

#[test]
fn wording_follows_the_decline_and_retries_are_only_promised_when_planned() {
    let with = |why: Why, next: Option<&str>| MailView {
        why: why.as_str(),
        next_retry: next.map(str::to_owned),
        ..view("friendly", Locale::En)
    };
    let expired = render(MailKind::PaymentFailed, &with(Why::Expired, None)).unwrap();
    assert!(expired.text.contains("the card on file has expired"));
    let auth = render(MailKind::PaymentFailed, &with(Why::Auth, None)).unwrap();
    assert!(auth.text.contains("confirm the payment"));
    assert!(
        auth.text.contains("Confirm the payment:"),
        "the button says so"
    );
    let declined = render(MailKind::PaymentFailed, &with(Why::Declined, None)).unwrap();
    assert!(declined.text.contains("your bank declined the payment"));
    assert!(!declined.text.to_lowercase().contains("fraud"));
    assert!(!declined.text.contains("try again on"), "no retry planned");
    let funds = render(
        MailKind::PaymentFailed,
        &with(Why::Funds, Some("Monday 2 March 2026")),
    )
    .unwrap();
    assert!(
        funds
            .text
            .contains("We'll try again on Monday 2 March 2026")
    );
}

#[test]
fn what_the_processor_sent_is_escaped_and_cannot_add_headers() {
    let mut v = view("friendly", Locale::En);
    v.name = Some("<script>alert(1)</script>".into());
    v.plan_name = Some("Pro\r\nBcc: victim@example.com".into());
    let r = render(MailKind::PaymentFailed, &v).unwrap();
    assert!(!r.html.contains("<script>"));
    assert!(r.html.contains("&#60;script&#62;") || r.html.contains("&lt;script&gt;"));
    assert!(!r.subject.contains('\r') && !r.subject.contains('\n'));
    // The plain-text body is not HTML: the name shows as given.
    assert!(r.text.contains("<script>alert(1)</script>"));
}

#[test]
fn a_thank_you_offers_the_upsell_gently() {
    // Only an offer the operator marks for the thank-you: the first plan
    // change may well be a downgrade.
    assert_eq!(upsell(&policy_with_offer(), Locale::En, &[]), None);
    let raw: RawPolicy = toml::from_str(
        r#"
[[offers]]
id = "basic"
kind = "plan_change"
price = "price_basic"
label = "Switch to Basic for $19/month"

[[offers]]
id = "yearly"
kind = "plan_change"
price = "price_yearly"
label = "Switch to yearly and save 20%"
thank_you = true
labels = { de = "Jährlich zahlen und 20 % sparen" }
"#,
    )
    .unwrap();
    let marked = raw.validate().unwrap();
    assert_eq!(
        upsell(&marked, Locale::En, &[]).as_deref(),
        Some("Switch to yearly and save 20%")
    );
    assert_eq!(
        upsell(&marked, Locale::De, &[]).as_deref(),
        Some("Jährlich zahlen und 20 % sparen")
    );
    // No words of the operator's for French: no line, rather than a
    // button's caption as a sentence.
    assert_eq!(upsell(&marked, Locale::Fr, &[]), None);
    let r = render(
        MailKind::ThankYou,
        &MailView {
            upsell: upsell(&marked, Locale::En, &[]),
            ..view("friendly", Locale::En)
        },
    )
    .unwrap();
    assert!(r.text.contains("By the way: Switch to yearly and save 20%"));
    let plain = MailView {
        upsell: None,
        ..view("friendly", Locale::En)
    };
    let r = render(MailKind::ThankYou, &plain).unwrap();
    assert!(!r.text.contains("By the way"));
}

#[test]
fn one_day_is_one_day_in_every_language() {
    for (locale, one, three) in [
        (Locale::En, "1 day overdue", "3 days overdue"),
        (Locale::De, "seit 1 Tag offen", "seit 3 Tagen offen"),
        (Locale::Fr, "en retard de 1 jour", "en retard de 3 jours"),
        (
            Locale::Es,
            "lleva 1 día pendiente",
            "lleva 3 días pendiente",
        ),
        (Locale::Pt, "pendente há 1 dia", "pendente há 3 dias"),
    ] {
        for (days, said) in [(1, one), (3, three)] {
            let v = MailView {
                days,
                days_plural: locale.plural(u64::from(days)),
                ..view("firm", locale)
            };
            let r = render(MailKind::PaymentFailed, &v).unwrap();
            assert!(r.subject.contains(said), "{locale:?} {days}: {}", r.subject);
            assert!(
                !r.text.contains(" 1 days") && !r.text.contains(" 1 Tagen"),
                "{}",
                r.text
            );
        }
    }
}

#[test]
fn brazil_and_portugal_each_read_their_own_portuguese() {
    let br = render(MailKind::PaymentFailed, &view("firm", Locale::PtBr)).unwrap();
    let pt = render(MailKind::PaymentFailed, &view("firm", Locale::Pt)).unwrap();
    assert!(br.html.contains("lang=\"pt-BR\""));
    assert!(br.text.contains("sua assinatura"), "{}", br.text);
    assert!(br.text.contains("US$ 49,00"), "{}", br.text);
    assert!(pt.text.contains("subscrição"), "{}", pt.text);
    assert!(pt.text.contains("49,00 US$"), "{}", pt.text);
    for (text, never) in [
        (
            &br.text,
            ["registado", "pede-lhe", "Tentámos", "subscrição"],
        ),
        (&pt.text, ["cadastrado", "você", "assinatura", "registrado"]),
    ] {
        for word in never {
            assert!(!text.contains(word), "{word}: {text}");
        }
    }
}

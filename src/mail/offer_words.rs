//! What an offer says, in the customer's language: its label (the
//! operator's words for that language, else dunwell's own naming the plan
//! the processor states), its price written the customer's way, and the
//! terms the confirm step shows — what changes, the new price, from when.
//! Shared by the billing page and the emails.

use crate::domain::locale::Locale;
use crate::domain::policy::{Offer, OfferKind};
use crate::domain::price::{Interval, Price};

struct OfferWords {
    switch_to: &'static str,
    other_plan: &'static str,
    pause_until: &'static str,
    /// "per day", "per week", "per month", "per year".
    per: [&'static str; 4],
    /// "every {n} days" … (`{n}` ≥ 2).
    every: [&'static str; 4],
    plan_title: &'static str,
    pause_title: &'static str,
    plan_from_to: &'static str,
    plan_to: &'static str,
    price_from_today: &'static str,
    proration_none: &'static str,
    proration_invoice: &'static str,
    proration_next: &'static str,
    open_payment_retry: &'static str,
    pause_terms: &'static str,
    pause_open: &'static str,
    plan_button: &'static str,
    pause_button: &'static str,
    back: &'static str,
    done_title: &'static str,
    done_plan: &'static str,
    done_changed: &'static str,
    done_pause: &'static str,
    paused_status: &'static str,
    paused_title: &'static str,
    paused_message: &'static str,
}

const EN: OfferWords = OfferWords {
    switch_to: "Switch to {plan}",
    other_plan: "Switch to another plan",
    pause_until: "Pause until {date}",
    per: ["per day", "per week", "per month", "per year"],
    every: [
        "every {n} days",
        "every {n} weeks",
        "every {n} months",
        "every {n} years",
    ],
    plan_title: "Switch to {plan}?",
    pause_title: "Pause your subscription?",
    plan_from_to: "Your plan changes from {old} to {new} today.",
    plan_to: "Your plan changes to {new} today.",
    price_from_today: "From today you pay {price}.",
    proration_none: "Nothing extra is charged for the rest of the current period.",
    proration_invoice: "The difference for the rest of the current period is invoiced today.",
    proration_next: "The difference for the rest of the current period is added to your next invoice.",
    open_payment_retry: "We'll then try the open payment of {amount} again.",
    pause_terms: "Collection pauses today and starts again on {date}. Nothing is charged until then.",
    pause_open: "We stop asking for the open payment of {amount}.",
    plan_button: "Yes, switch to {plan}",
    pause_button: "Yes, pause until {date}",
    back: "Back",
    done_title: "Your subscription is updated",
    done_plan: "Done: your plan is now {plan}. We'll email you a confirmation.",
    done_changed: "Done: your plan has changed. We'll email you a confirmation.",
    done_pause: "Done: your subscription is paused until {date}. We'll email you a confirmation.",
    paused_status: "Paused",
    paused_title: "Your subscription is paused",
    paused_message: "Nothing is charged until {date}, when it starts again as before.",
};

const DE: OfferWords = OfferWords {
    switch_to: "Zu {plan} wechseln",
    other_plan: "Zu einem anderen Tarif wechseln",
    pause_until: "Bis {date} pausieren",
    per: ["pro Tag", "pro Woche", "pro Monat", "pro Jahr"],
    every: [
        "alle {n} Tage",
        "alle {n} Wochen",
        "alle {n} Monate",
        "alle {n} Jahre",
    ],
    plan_title: "Zu {plan} wechseln?",
    pause_title: "Abonnement pausieren?",
    plan_from_to: "Ihr Tarif wechselt heute von {old} zu {new}.",
    plan_to: "Ihr Tarif wechselt heute zu {new}.",
    price_from_today: "Ab heute zahlen Sie {price}.",
    proration_none: "Für den Rest des laufenden Zeitraums wird nichts zusätzlich berechnet.",
    proration_invoice: "Die Differenz für den Rest des laufenden Zeitraums wird heute in Rechnung gestellt.",
    proration_next: "Die Differenz für den Rest des laufenden Zeitraums kommt auf Ihre nächste Rechnung.",
    open_payment_retry: "Danach versuchen wir die offene Zahlung von {amount} erneut.",
    pause_terms: "Die Abbuchung pausiert ab heute und beginnt am {date} wieder. Bis dahin wird nichts berechnet.",
    pause_open: "Wir fordern die offene Zahlung von {amount} nicht weiter an.",
    plan_button: "Ja, zu {plan} wechseln",
    pause_button: "Ja, bis {date} pausieren",
    back: "Zurück",
    done_title: "Ihr Abonnement wurde geändert",
    done_plan: "Erledigt: Ihr Tarif ist jetzt {plan}. Sie erhalten eine Bestätigung per E-Mail.",
    done_changed: "Erledigt: Ihr Tarif wurde geändert. Sie erhalten eine Bestätigung per E-Mail.",
    done_pause: "Erledigt: Ihr Abonnement pausiert bis {date}. Sie erhalten eine Bestätigung per E-Mail.",
    paused_status: "Pausiert",
    paused_title: "Ihr Abonnement pausiert",
    paused_message: "Bis {date} wird nichts berechnet; ab diesem Tag läuft es wie bisher weiter.",
};

const FR: OfferWords = OfferWords {
    switch_to: "Passer à {plan}",
    other_plan: "Passer à une autre formule",
    pause_until: "Suspendre jusqu'au {date}",
    per: ["par jour", "par semaine", "par mois", "par an"],
    every: [
        "tous les {n} jours",
        "toutes les {n} semaines",
        "tous les {n} mois",
        "tous les {n} ans",
    ],
    plan_title: "Passer à {plan} ?",
    pause_title: "Suspendre votre abonnement ?",
    plan_from_to: "Votre formule passe aujourd'hui de {old} à {new}.",
    plan_to: "Votre formule passe aujourd'hui à {new}.",
    price_from_today: "À partir d'aujourd'hui, vous payez {price}.",
    proration_none: "Aucun supplément n'est facturé pour la période en cours.",
    proration_invoice: "La différence pour le reste de la période en cours est facturée aujourd'hui.",
    proration_next: "La différence pour le reste de la période en cours s'ajoute à votre prochaine facture.",
    open_payment_retry: "Nous retenterons ensuite le paiement en attente de {amount}.",
    pause_terms: "Les prélèvements sont suspendus dès aujourd'hui et reprennent le {date}. Rien n'est facturé d'ici là.",
    pause_open: "Nous ne vous demandons plus le paiement en attente de {amount}.",
    plan_button: "Oui, passer à {plan}",
    pause_button: "Oui, suspendre jusqu'au {date}",
    back: "Retour",
    done_title: "Votre abonnement a été modifié",
    done_plan: "C'est fait : votre formule est désormais {plan}. Vous recevrez une confirmation par e-mail.",
    done_changed: "C'est fait : votre formule a changé. Vous recevrez une confirmation par e-mail.",
    done_pause: "C'est fait : votre abonnement est suspendu jusqu'au {date}. Vous recevrez une confirmation par e-mail.",
    paused_status: "Suspendu",
    paused_title: "Votre abonnement est suspendu",
    paused_message: "Rien n'est facturé jusqu'au {date} ; date à laquelle il reprendra comme avant.",
};

const ES: OfferWords = OfferWords {
    switch_to: "Cambiar a {plan}",
    other_plan: "Cambiar a otro plan",
    pause_until: "Pausar hasta el {date}",
    per: ["al día", "a la semana", "al mes", "al año"],
    every: [
        "cada {n} días",
        "cada {n} semanas",
        "cada {n} meses",
        "cada {n} años",
    ],
    plan_title: "¿Cambiar a {plan}?",
    pause_title: "¿Pausar tu suscripción?",
    plan_from_to: "Tu plan cambia hoy de {old} a {new}.",
    plan_to: "Tu plan cambia hoy a {new}.",
    price_from_today: "A partir de hoy pagas {price}.",
    proration_none: "No se cobra nada más por lo que queda del periodo actual.",
    proration_invoice: "La diferencia por lo que queda del periodo actual se factura hoy.",
    proration_next: "La diferencia por lo que queda del periodo actual se suma a tu próxima factura.",
    open_payment_retry: "Después volveremos a intentar el pago pendiente de {amount}.",
    pause_terms: "Los cobros se pausan hoy y se reanudan el {date}. Hasta entonces no se cobra nada.",
    pause_open: "Dejamos de pedirte el pago pendiente de {amount}.",
    plan_button: "Sí, cambiar a {plan}",
    pause_button: "Sí, pausar hasta el {date}",
    back: "Volver",
    done_title: "Tu suscripción se ha actualizado",
    done_plan: "Hecho: tu plan ahora es {plan}. Te enviaremos una confirmación por correo.",
    done_changed: "Hecho: tu plan ha cambiado. Te enviaremos una confirmación por correo.",
    done_pause: "Hecho: tu suscripción está pausada hasta el {date}. Te enviaremos una confirmación por correo.",
    paused_status: "Pausada",
    paused_title: "Tu suscripción está pausada",
    paused_message: "No se cobra nada hasta el {date}; ese día se reanuda como antes.",
};

const PT: OfferWords = OfferWords {
    switch_to: "Mudar para {plan}",
    other_plan: "Mudar para outro plano",
    pause_until: "Pausar até {date}",
    per: ["por dia", "por semana", "por mês", "por ano"],
    every: [
        "a cada {n} dias",
        "a cada {n} semanas",
        "a cada {n} meses",
        "a cada {n} anos",
    ],
    plan_title: "Mudar para {plan}?",
    pause_title: "Pausar a sua subscrição?",
    plan_from_to: "O seu plano muda hoje de {old} para {new}.",
    plan_to: "O seu plano muda hoje para {new}.",
    price_from_today: "A partir de hoje paga {price}.",
    proration_none: "Não é cobrado nada a mais pelo resto do período atual.",
    proration_invoice: "A diferença pelo resto do período atual é faturada hoje.",
    proration_next: "A diferença pelo resto do período atual é somada à sua próxima fatura.",
    open_payment_retry: "Depois voltamos a tentar o pagamento pendente de {amount}.",
    pause_terms: "As cobranças ficam pausadas a partir de hoje e recomeçam em {date}. Até lá não é cobrado nada.",
    pause_open: "Deixamos de pedir o pagamento pendente de {amount}.",
    plan_button: "Sim, mudar para {plan}",
    pause_button: "Sim, pausar até {date}",
    back: "Voltar",
    done_title: "A sua subscrição foi atualizada",
    done_plan: "Feito: o seu plano agora é {plan}. Enviamos-lhe uma confirmação por e-mail.",
    done_changed: "Feito: o seu plano mudou. Enviamos-lhe uma confirmação por e-mail.",
    done_pause: "Feito: a sua subscrição está pausada até {date}. Enviamos-lhe uma confirmação por e-mail.",
    paused_status: "Pausada",
    paused_title: "A sua subscrição está pausada",
    paused_message: "Não é cobrado nada até {date}; nesse dia é retomada como antes.",
};

const PT_BR: OfferWords = OfferWords {
    switch_to: "Mudar para {plan}",
    other_plan: "Mudar para outro plano",
    pause_until: "Pausar até {date}",
    per: ["por dia", "por semana", "por mês", "por ano"],
    every: [
        "a cada {n} dias",
        "a cada {n} semanas",
        "a cada {n} meses",
        "a cada {n} anos",
    ],
    plan_title: "Mudar para {plan}?",
    pause_title: "Pausar sua assinatura?",
    plan_from_to: "Seu plano muda hoje de {old} para {new}.",
    plan_to: "Seu plano muda hoje para {new}.",
    price_from_today: "A partir de hoje, você paga {price}.",
    proration_none: "Nada a mais será cobrado pelo resto do período atual.",
    proration_invoice: "A diferença pelo resto do período atual é faturada hoje.",
    proration_next: "A diferença pelo resto do período atual é somada à sua próxima fatura.",
    open_payment_retry: "Depois voltamos a tentar o pagamento pendente de {amount}.",
    pause_terms: "As cobranças ficam pausadas a partir de hoje e recomeçam em {date}. Até lá, nada será cobrado.",
    pause_open: "Não vamos mais cobrar o pagamento pendente de {amount}.",
    plan_button: "Sim, mudar para {plan}",
    pause_button: "Sim, pausar até {date}",
    back: "Voltar",
    done_title: "Sua assinatura foi atualizada",
    done_plan: "Feito: seu plano agora é {plan}. Enviaremos uma confirmação por e-mail.",
    done_changed: "Feito: seu plano mudou. Enviaremos uma confirmação por e-mail.",
    done_pause: "Feito: sua assinatura está pausada até {date}. Enviaremos uma confirmação por e-mail.",
    paused_status: "Pausada",
    paused_title: "Sua assinatura está pausada",
    paused_message: "Nada será cobrado até {date}; nesse dia é retomada como antes.",
};

fn words(locale: Locale) -> &'static OfferWords {
    match locale {
        Locale::En => &EN,
        Locale::De => &DE,
        Locale::Fr => &FR,
        Locale::Es => &ES,
        Locale::Pt => &PT,
        Locale::PtBr => &PT_BR,
    }
}

/// "$19.00 per month", "19,00 € pro Monat", "190,00 $US par an".
pub fn price_text(locale: Locale, price: &Price) -> String {
    let amount = locale.money(price.unit_amount, &price.currency);
    let Some(every) = &price.recurring else {
        return amount;
    };
    let w = words(locale);
    let i = match every.interval {
        Interval::Day => 0,
        Interval::Week => 1,
        Interval::Month => 2,
        Interval::Year => 3,
    };
    let when = match every.count {
        1 => w.per[i].to_owned(),
        n => w.every[i].replace("{n}", &n.to_string()),
    };
    format!("{amount} {when}")
}

/// What an offer is about, for its words: the new plan's name as the
/// processor states it, the pause's last day written out, the open amount.
pub struct OfferFacts<'a> {
    pub offer: &'a Offer,
    pub price: Option<&'a Price>,
    /// The plan the customer is on now, when known.
    pub current_plan: Option<&'a str>,
    /// The open payment, written out.
    pub open_amount: &'a str,
    /// When a pause chosen now would end, written out.
    pub resumes_on: &'a str,
}

impl OfferFacts<'_> {
    fn plan(&self) -> Option<&str> {
        self.price.and_then(|p| p.product.as_deref())
    }
}

/// The offer's label in `locale`: the operator's words for it (the plain
/// `label` is in `default`), else dunwell's own.
pub fn label(locale: Locale, default: Locale, f: &OfferFacts<'_>) -> String {
    if let Some((_, text)) = f.offer.labels.iter().find(|(l, _)| *l == locale) {
        return text.clone();
    }
    if locale == default {
        return f.offer.label.clone();
    }
    let w = words(locale);
    match (f.offer.kind, f.plan()) {
        (OfferKind::PlanChange, Some(plan)) => w.switch_to.replace("{plan}", plan),
        (OfferKind::PlanChange, None) => w.other_plan.to_owned(),
        (OfferKind::Pause, _) => w.pause_until.replace("{date}", f.resumes_on),
    }
}

/// The confirm step: its title, its terms (one sentence each) and its
/// button.
pub struct Terms {
    pub title: String,
    pub lines: Vec<String>,
    pub button: String,
    pub back: &'static str,
}

pub fn terms(locale: Locale, f: &OfferFacts<'_>) -> Terms {
    let w = words(locale);
    match f.offer.kind {
        OfferKind::PlanChange => {
            let new = f.plan().unwrap_or(w.other_plan);
            let mut lines = vec![match f.current_plan {
                Some(old) if old != new => {
                    w.plan_from_to.replace("{old}", old).replace("{new}", new)
                }
                _ => w.plan_to.replace("{new}", new),
            }];
            if let Some(price) = f.price {
                lines.push(
                    w.price_from_today
                        .replace("{price}", &price_text(locale, price)),
                );
            }
            lines.push(
                match f.offer.proration_behavior {
                    "always_invoice" => w.proration_invoice,
                    "create_prorations" => w.proration_next,
                    _ => w.proration_none,
                }
                .to_owned(),
            );
            lines.push(w.open_payment_retry.replace("{amount}", f.open_amount));
            let (title, button) = match f.plan() {
                Some(plan) => (
                    w.plan_title.replace("{plan}", plan),
                    w.plan_button.replace("{plan}", plan),
                ),
                None => (
                    format!("{}?", w.other_plan),
                    w.plan_button.replace("{plan}", w.other_plan),
                ),
            };
            Terms {
                title,
                lines,
                button,
                back: w.back,
            }
        }
        OfferKind::Pause => Terms {
            title: w.pause_title.to_owned(),
            lines: vec![
                w.pause_terms.replace("{date}", f.resumes_on),
                w.pause_open.replace("{amount}", f.open_amount),
            ],
            button: w.pause_button.replace("{date}", f.resumes_on),
            back: w.back,
        },
    }
}

/// What the page says once the offer is carried out: a title and a line.
pub fn done(locale: Locale, f: &OfferFacts<'_>) -> (&'static str, String) {
    let w = words(locale);
    let line = match f.offer.kind {
        OfferKind::PlanChange => match f.plan() {
            Some(plan) => w.done_plan.replace("{plan}", plan),
            None => w.done_changed.to_owned(),
        },
        OfferKind::Pause => w.done_pause.replace("{date}", f.resumes_on),
    };
    (w.done_title, line)
}

/// What the page says of a case a pause ended: a status, a title and a
/// line naming the day collection starts again.
pub fn paused(locale: Locale, resumes_on: &str) -> (&'static str, &'static str, String) {
    let w = words(locale);
    (
        w.paused_status,
        w.paused_title,
        w.paused_message.replace("{date}", resumes_on),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::PriceId;
    use crate::domain::price::Recurring;

    fn basic() -> Price {
        Price {
            id: PriceId::parse("price_basic").unwrap(),
            product: Some("Basic".into()),
            unit_amount: 1900,
            currency: "eur".into(),
            recurring: Some(Recurring {
                interval: Interval::Month,
                count: 1,
            }),
        }
    }

    fn offer(kind: OfferKind) -> Offer {
        Offer {
            id: "basic".into(),
            kind,
            price: Some(PriceId::parse("price_basic").unwrap()),
            label: "Switch to Basic for $19/month".into(),
            labels: vec![(Locale::Fr, "Passer à Basic, 19 € par mois".into())],
            pause_days: 30,
            thank_you: false,
            proration_behavior: "none",
        }
    }

    #[test]
    fn a_label_is_the_operators_words_for_the_language_else_dunwells_with_the_processors_plan() {
        let (o, p) = (offer(OfferKind::PlanChange), basic());
        let f = OfferFacts {
            offer: &o,
            price: Some(&p),
            current_plan: Some("Pro"),
            open_amount: "49,00 €",
            resumes_on: "",
        };
        assert_eq!(
            label(Locale::En, Locale::En, &f),
            "Switch to Basic for $19/month"
        );
        assert_eq!(
            label(Locale::Fr, Locale::En, &f),
            "Passer à Basic, 19 € par mois"
        );
        assert_eq!(label(Locale::De, Locale::En, &f), "Zu Basic wechseln");
        assert_eq!(price_text(Locale::De, &p), "19,00 € pro Monat");
        let t = terms(Locale::De, &f);
        assert_eq!(t.title, "Zu Basic wechseln?");
        assert_eq!(t.lines[0], "Ihr Tarif wechselt heute von Pro zu Basic.");
        assert_eq!(t.lines[1], "Ab heute zahlen Sie 19,00 € pro Monat.");
        assert!(
            t.lines.iter().all(|l| !l.contains('$') && !l.contains('{')),
            "{:?}",
            t.lines
        );
    }

    #[test]
    fn a_pause_says_until_when_and_every_language_fills_every_blank() {
        let o = offer(OfferKind::Pause);
        let f = OfferFacts {
            offer: &o,
            price: None,
            current_plan: None,
            open_amount: "49,00 €",
            resumes_on: "6 janvier 2027",
        };
        let t = terms(Locale::Fr, &f);
        assert!(
            t.lines[0].contains("reprennent le 6 janvier 2027"),
            "{:?}",
            t.lines
        );
        assert_eq!(t.button, "Oui, suspendre jusqu'au 6 janvier 2027");
        for locale in Locale::ALL {
            let plan = offer(OfferKind::PlanChange);
            let p = basic();
            for f in [
                OfferFacts {
                    offer: &o,
                    price: None,
                    current_plan: None,
                    open_amount: "1",
                    resumes_on: "D",
                },
                OfferFacts {
                    offer: &plan,
                    price: Some(&p),
                    current_plan: Some("Pro"),
                    open_amount: "1",
                    resumes_on: "D",
                },
                OfferFacts {
                    offer: &plan,
                    price: None,
                    current_plan: None,
                    open_amount: "1",
                    resumes_on: "D",
                },
            ] {
                let t = terms(locale, &f);
                let (_, d) = done(locale, &f);
                for text in
                    t.lines
                        .iter()
                        .chain([&t.title, &t.button, &d, &label(locale, Locale::En, &f)])
                {
                    assert!(!text.contains('{'), "{locale:?}: {text}");
                }
            }
        }
    }
}

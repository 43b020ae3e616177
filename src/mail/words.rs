//! The words of the shared email layout in each shipped language: the
//! greeting, the buttons, the summary's labels, the footer. What each email
//! says lives in its own template per language (`templates/email/<kind>/`).

use crate::domain::locale::Locale;

#[derive(Debug)]
pub struct Words {
    /// "Hi {name}," — `{name}` replaced.
    pub hello_name: &'static str,
    /// When no name is known.
    pub hello: &'static str,
    pub update_card: &'static str,
    pub confirm_payment: &'static str,
    pub view_account: &'static str,
    /// The cancel email's button: its page opens the account page.
    pub reactivate: &'static str,
    pub pay_invoice: &'static str,
    pub other_options: &'static str,
    pub plan: &'static str,
    pub amount: &'static str,
    pub invoice: &'static str,
    pub thanks: &'static str,
    /// "Questions? Reply to this email or write to" …
    pub questions: &'static str,
    /// Under every email: why it came.
    pub why_this_email: &'static str,
    /// What a plan is called when its name is unknown.
    pub your_subscription: &'static str,
    /// "Visa ending 4242" — `{brand}`, `{last4}` replaced.
    pub card_ending: &'static str,
    pub card_on_file: &'static str,
}

const EN: Words = Words {
    hello_name: "Hi {name},",
    hello: "Hello,",
    update_card: "Update your card",
    confirm_payment: "Confirm the payment",
    view_account: "See your account",
    reactivate: "Reactivate your subscription",
    pay_invoice: "Or pay the invoice directly",
    other_options: "Other options",
    plan: "Plan",
    amount: "Amount",
    invoice: "Invoice",
    thanks: "Thank you,",
    questions: "Questions? Just reply to this email.",
    why_this_email: "You're receiving this email about your subscription's billing. The link in it is personal: please don't forward it.",
    your_subscription: "your subscription",
    card_ending: "{brand} ending {last4}",
    card_on_file: "the card on file",
};

const DE: Words = Words {
    hello_name: "Hallo {name},",
    hello: "Hallo,",
    update_card: "Karte aktualisieren",
    confirm_payment: "Zahlung bestätigen",
    view_account: "Zu Ihrem Konto",
    reactivate: "Abonnement wieder aufnehmen",
    pay_invoice: "Oder die Rechnung direkt bezahlen",
    other_options: "Weitere Möglichkeiten",
    plan: "Tarif",
    amount: "Betrag",
    invoice: "Rechnung",
    thanks: "Vielen Dank,",
    questions: "Fragen? Antworten Sie einfach auf diese E-Mail.",
    why_this_email: "Sie erhalten diese E-Mail zur Abrechnung Ihres Abonnements. Der Link darin ist persönlich: Bitte leiten Sie sie nicht weiter.",
    your_subscription: "Ihr Abonnement",
    card_ending: "{brand} mit Endziffern {last4}",
    card_on_file: "die hinterlegte Karte",
};

const FR: Words = Words {
    hello_name: "Bonjour {name},",
    hello: "Bonjour,",
    update_card: "Mettre à jour votre carte",
    confirm_payment: "Confirmer le paiement",
    view_account: "Voir votre compte",
    reactivate: "Réactiver votre abonnement",
    pay_invoice: "Ou réglez directement la facture",
    other_options: "Autres possibilités",
    plan: "Formule",
    amount: "Montant",
    invoice: "Facture",
    thanks: "Merci,",
    questions: "Une question ? Répondez simplement à cet e-mail.",
    why_this_email: "Vous recevez cet e-mail au sujet de la facturation de votre abonnement. Le lien qu'il contient vous est personnel : merci de ne pas le transférer.",
    your_subscription: "votre abonnement",
    card_ending: "{brand} se terminant par {last4}",
    card_on_file: "la carte enregistrée",
};

const ES: Words = Words {
    hello_name: "Hola, {name}:",
    hello: "Hola:",
    update_card: "Actualizar tu tarjeta",
    confirm_payment: "Confirmar el pago",
    view_account: "Ver tu cuenta",
    reactivate: "Reactivar tu suscripción",
    pay_invoice: "O paga la factura directamente",
    other_options: "Otras opciones",
    plan: "Plan",
    amount: "Importe",
    invoice: "Factura",
    thanks: "Gracias,",
    questions: "¿Alguna pregunta? Responde a este correo.",
    why_this_email: "Recibes este correo sobre la facturación de tu suscripción. El enlace es personal: no lo reenvíes, por favor.",
    your_subscription: "tu suscripción",
    card_ending: "{brand} terminada en {last4}",
    card_on_file: "la tarjeta registrada",
};

const PT: Words = Words {
    hello_name: "Olá, {name},",
    hello: "Olá,",
    update_card: "Atualizar o seu cartão",
    confirm_payment: "Confirmar o pagamento",
    view_account: "Ver a sua conta",
    reactivate: "Reativar a sua subscrição",
    pay_invoice: "Ou pague a fatura diretamente",
    other_options: "Outras opções",
    plan: "Plano",
    amount: "Valor",
    invoice: "Fatura",
    thanks: "Obrigado,",
    questions: "Dúvidas? Basta responder a este e-mail.",
    why_this_email: "Recebe este e-mail sobre a faturação da sua subscrição. O link é pessoal: por favor, não o reencaminhe.",
    your_subscription: "a sua subscrição",
    card_ending: "{brand} terminado em {last4}",
    card_on_file: "o cartão registado",
};

const PT_BR: Words = Words {
    hello_name: "Olá, {name},",
    hello: "Olá,",
    update_card: "Atualizar seu cartão",
    confirm_payment: "Confirmar o pagamento",
    view_account: "Ver sua conta",
    reactivate: "Reativar sua assinatura",
    pay_invoice: "Ou pague a fatura diretamente",
    other_options: "Outras opções",
    plan: "Plano",
    amount: "Valor",
    invoice: "Fatura",
    thanks: "Obrigado,",
    questions: "Dúvidas? Basta responder a este e-mail.",
    why_this_email: "Você está recebendo este e-mail sobre a cobrança da sua assinatura. O link é pessoal: por favor, não o encaminhe.",
    your_subscription: "sua assinatura",
    card_ending: "{brand} final {last4}",
    card_on_file: "o cartão cadastrado",
};

pub fn words(locale: Locale) -> &'static Words {
    match locale {
        Locale::En => &EN,
        Locale::De => &DE,
        Locale::Fr => &FR,
        Locale::Es => &ES,
        Locale::Pt => &PT,
        Locale::PtBr => &PT_BR,
    }
}

/// "second", "zweite"… for reminder number `n` (1-based), lower-case.
pub fn ordinal(locale: Locale, n: u32) -> String {
    const EN: [&str; 10] = [
        "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
        "tenth",
    ];
    const DE: [&str; 10] = [
        "erste", "zweite", "dritte", "vierte", "fünfte", "sechste", "siebte", "achte", "neunte",
        "zehnte",
    ];
    const FR: [&str; 10] = [
        "premier",
        "deuxième",
        "troisième",
        "quatrième",
        "cinquième",
        "sixième",
        "septième",
        "huitième",
        "neuvième",
        "dixième",
    ];
    const ES: [&str; 10] = [
        "primer", "segundo", "tercer", "cuarto", "quinto", "sexto", "séptimo", "octavo", "noveno",
        "décimo",
    ];
    const PT: [&str; 10] = [
        "primeiro", "segundo", "terceiro", "quarto", "quinto", "sexto", "sétimo", "oitavo", "nono",
        "décimo",
    ];
    let table = match locale {
        Locale::En => EN,
        Locale::De => DE,
        Locale::Fr => FR,
        Locale::Es => ES,
        Locale::Pt | Locale::PtBr => PT,
    };
    table
        .get((n.max(1) - 1) as usize)
        .map_or_else(|| format!("{n}."), |w| (*w).to_owned())
}

/// How a card brand as the processor names it (`visa`, `amex`) reads.
fn brand_name(brand: &str) -> String {
    match brand {
        "visa" => "Visa".into(),
        "mastercard" => "Mastercard".into(),
        "amex" | "american_express" => "American Express".into(),
        "discover" => "Discover".into(),
        "diners" => "Diners Club".into(),
        "jcb" => "JCB".into(),
        "unionpay" => "UnionPay".into(),
        "cartes_bancaires" => "Cartes Bancaires".into(),
        "eftpos_au" => "eftpos".into(),
        other => {
            let mut name = other.replace('_', " ");
            if let Some(first) = name.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            name
        }
    }
}

/// "Visa ending 4242" in `locale` (brand and last 4 only, ever); "the card
/// on file" when the last 4 are unknown.
pub fn card_name(locale: Locale, brand: Option<&str>, last4: Option<&str>) -> String {
    let w = words(locale);
    // Only the last four digits, whatever the field held.
    let digits: String = last4
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    if digits.len() != 4 {
        return w.card_on_file.to_owned();
    }
    let brand = brand.map_or_else(|| "Card".into(), |b| brand_name(&b.to_ascii_lowercase()));
    let brand: String = brand.chars().filter(|c| !c.is_control()).take(40).collect();
    w.card_ending
        .replace("{brand}", &brand)
        .replace("{last4}", &digits)
}

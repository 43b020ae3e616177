//! The billing pages' rare answers — a post that did not come from the
//! page, a processor that did not answer, an offer that cannot be taken —
//! in each shipped language, like the page itself.

use crate::domain::locale::Locale;

/// A title and a line.
#[derive(Debug, Clone, Copy)]
pub struct Said {
    pub title: &'static str,
    pub message: &'static str,
}

const fn said(title: &'static str, message: &'static str) -> Said {
    Said { title, message }
}

#[derive(Debug)]
pub struct Refusals {
    /// A post from another site.
    pub forged: Said,
    /// The card button of a case that ended.
    pub nothing_to_pay: Said,
    /// The processor's card page could not be opened.
    pub card_page_down: Said,
    /// The processor's account page could not be opened.
    pub account_page_down: Said,
    /// An offer the policy no longer has.
    pub offer_gone: Said,
    /// An offer on a case that ended.
    pub nothing_to_change: Said,
    /// An offer that cannot apply to this subscription.
    pub offer_not_here: Said,
    /// The processor refused the change.
    pub offer_refused: Said,
    /// The processor did not answer.
    pub offer_busy: Said,
}

const EN: Refusals = Refusals {
    forged: said(
        "Please use the link in your email",
        "This request did not come from your billing page.",
    ),
    nothing_to_pay: said(
        "There is nothing to pay here any more",
        "This invoice is settled or closed. Your billing page shows where things stand.",
    ),
    card_page_down: said(
        "We couldn't open the card page just now",
        "Please try again in a minute. Nothing was charged.",
    ),
    account_page_down: said(
        "We couldn't open your account just now",
        "Please try again in a minute.",
    ),
    offer_gone: said(
        "This offer is not available",
        "It may have ended. Your billing page shows what you can do now.",
    ),
    nothing_to_change: said(
        "There is nothing to change any more",
        "This invoice is settled or closed. Your billing page shows where things stand.",
    ),
    offer_not_here: said(
        "We couldn't make this change here",
        "Please reply to our email and we'll sort it out with you. Nothing was changed.",
    ),
    offer_refused: said(
        "We couldn't make this change",
        "Nothing was changed. Please update your card instead, or reply to our email and we'll help.",
    ),
    offer_busy: said(
        "We couldn't make this change just now",
        "Please try again in a minute: the change is made only once, however often you ask.",
    ),
};

const DE: Refusals = Refusals {
    forged: said(
        "Bitte verwenden Sie den Link aus Ihrer E-Mail",
        "Diese Anfrage kam nicht von Ihrer Abrechnungsseite.",
    ),
    nothing_to_pay: said(
        "Hier ist nichts mehr zu bezahlen",
        "Diese Rechnung ist beglichen oder geschlossen. Ihre Abrechnungsseite zeigt den aktuellen Stand.",
    ),
    card_page_down: said(
        "Die Kartenseite lässt sich gerade nicht öffnen",
        "Bitte versuchen Sie es in einer Minute noch einmal. Es wurde nichts abgebucht.",
    ),
    account_page_down: said(
        "Ihr Kundenkonto lässt sich gerade nicht öffnen",
        "Bitte versuchen Sie es in einer Minute noch einmal.",
    ),
    offer_gone: said(
        "Dieses Angebot ist nicht verfügbar",
        "Es ist möglicherweise abgelaufen. Ihre Abrechnungsseite zeigt, was Sie jetzt tun können.",
    ),
    nothing_to_change: said(
        "Hier gibt es nichts mehr zu ändern",
        "Diese Rechnung ist beglichen oder geschlossen. Ihre Abrechnungsseite zeigt den aktuellen Stand.",
    ),
    offer_not_here: said(
        "Diese Änderung können wir hier nicht vornehmen",
        "Bitte antworten Sie auf unsere E-Mail, dann klären wir es mit Ihnen. Es wurde nichts geändert.",
    ),
    offer_refused: said(
        "Diese Änderung war nicht möglich",
        "Es wurde nichts geändert. Bitte aktualisieren Sie stattdessen Ihre Karte, oder antworten Sie auf unsere E-Mail, dann helfen wir Ihnen.",
    ),
    offer_busy: said(
        "Diese Änderung ist gerade nicht möglich",
        "Bitte versuchen Sie es in einer Minute noch einmal: Die Änderung wird nur einmal vorgenommen, wie oft Sie es auch versuchen.",
    ),
};

const FR: Refusals = Refusals {
    forged: said(
        "Veuillez utiliser le lien de votre e-mail",
        "Cette demande ne provient pas de votre page de facturation.",
    ),
    nothing_to_pay: said(
        "Il n'y a plus rien à payer ici",
        "Cette facture est réglée ou clôturée. Votre page de facturation indique où en sont les choses.",
    ),
    card_page_down: said(
        "Nous n'avons pas pu ouvrir la page de la carte",
        "Veuillez réessayer dans une minute. Rien n'a été débité.",
    ),
    account_page_down: said(
        "Nous n'avons pas pu ouvrir votre compte",
        "Veuillez réessayer dans une minute.",
    ),
    offer_gone: said(
        "Cette offre n'est pas disponible",
        "Elle a peut-être pris fin. Votre page de facturation indique ce que vous pouvez faire maintenant.",
    ),
    nothing_to_change: said(
        "Il n'y a plus rien à modifier",
        "Cette facture est réglée ou clôturée. Votre page de facturation indique où en sont les choses.",
    ),
    offer_not_here: said(
        "Nous ne pouvons pas effectuer ce changement ici",
        "Répondez à notre e-mail et nous réglerons cela avec vous. Rien n'a été modifié.",
    ),
    offer_refused: said(
        "Nous n'avons pas pu effectuer ce changement",
        "Rien n'a été modifié. Mettez plutôt à jour votre carte, ou répondez à notre e-mail et nous vous aiderons.",
    ),
    offer_busy: said(
        "Nous n'avons pas pu effectuer ce changement pour l'instant",
        "Veuillez réessayer dans une minute : le changement n'est fait qu'une fois, même si vous le demandez plusieurs fois.",
    ),
};

const ES: Refusals = Refusals {
    forged: said(
        "Usa el enlace de tu correo",
        "Esta solicitud no procede de tu página de facturación.",
    ),
    nothing_to_pay: said(
        "Aquí ya no hay nada que pagar",
        "Esta factura está pagada o cerrada. Tu página de facturación muestra en qué punto está.",
    ),
    card_page_down: said(
        "No hemos podido abrir la página de la tarjeta",
        "Vuelve a intentarlo dentro de un minuto. No se ha cobrado nada.",
    ),
    account_page_down: said(
        "No hemos podido abrir tu cuenta",
        "Vuelve a intentarlo dentro de un minuto.",
    ),
    offer_gone: said(
        "Esta oferta no está disponible",
        "Puede que haya terminado. Tu página de facturación muestra lo que puedes hacer ahora.",
    ),
    nothing_to_change: said(
        "Ya no hay nada que cambiar",
        "Esta factura está pagada o cerrada. Tu página de facturación muestra en qué punto está.",
    ),
    offer_not_here: said(
        "No podemos hacer este cambio aquí",
        "Responde a nuestro correo y lo resolveremos contigo. No se ha cambiado nada.",
    ),
    offer_refused: said(
        "No hemos podido hacer este cambio",
        "No se ha cambiado nada. Actualiza tu tarjeta, o responde a nuestro correo y te ayudaremos.",
    ),
    offer_busy: said(
        "Ahora mismo no hemos podido hacer este cambio",
        "Vuelve a intentarlo dentro de un minuto: el cambio se hace una sola vez, aunque lo pidas varias veces.",
    ),
};

const PT: Refusals = Refusals {
    forged: said(
        "Utilize o link do seu e-mail",
        "Este pedido não veio da sua página de faturação.",
    ),
    nothing_to_pay: said(
        "Já não há nada a pagar aqui",
        "Esta fatura está paga ou encerrada. A sua página de faturação mostra o ponto da situação.",
    ),
    card_page_down: said(
        "Não conseguimos abrir a página do cartão",
        "Tente novamente dentro de um minuto. Nada foi cobrado.",
    ),
    account_page_down: said(
        "Não conseguimos abrir a sua conta",
        "Tente novamente dentro de um minuto.",
    ),
    offer_gone: said(
        "Esta oferta não está disponível",
        "Pode ter terminado. A sua página de faturação mostra o que pode fazer agora.",
    ),
    nothing_to_change: said(
        "Já não há nada a alterar",
        "Esta fatura está paga ou encerrada. A sua página de faturação mostra o ponto da situação.",
    ),
    offer_not_here: said(
        "Não conseguimos fazer esta alteração aqui",
        "Responda ao nosso e-mail e resolvemos a questão consigo. Nada foi alterado.",
    ),
    offer_refused: said(
        "Não conseguimos fazer esta alteração",
        "Nada foi alterado. Atualize antes o seu cartão, ou responda ao nosso e-mail e ajudamos.",
    ),
    offer_busy: said(
        "De momento não conseguimos fazer esta alteração",
        "Tente novamente dentro de um minuto: a alteração é feita uma única vez, por mais vezes que a peça.",
    ),
};

const PT_BR: Refusals = Refusals {
    forged: said(
        "Use o link do seu e-mail",
        "Esta solicitação não veio da sua página de cobrança.",
    ),
    nothing_to_pay: said(
        "Não há mais nada a pagar aqui",
        "Esta fatura está paga ou encerrada. Sua página de cobrança mostra a situação atual.",
    ),
    card_page_down: said(
        "Não conseguimos abrir a página do cartão",
        "Tente novamente em um minuto. Nada foi cobrado.",
    ),
    account_page_down: said(
        "Não conseguimos abrir sua conta",
        "Tente novamente em um minuto.",
    ),
    offer_gone: said(
        "Esta oferta não está disponível",
        "Ela pode ter terminado. Sua página de cobrança mostra o que você pode fazer agora.",
    ),
    nothing_to_change: said(
        "Não há mais nada a alterar",
        "Esta fatura está paga ou encerrada. Sua página de cobrança mostra a situação atual.",
    ),
    offer_not_here: said(
        "Não conseguimos fazer esta alteração aqui",
        "Responda ao nosso e-mail e resolveremos isso com você. Nada foi alterado.",
    ),
    offer_refused: said(
        "Não conseguimos fazer esta alteração",
        "Nada foi alterado. Atualize seu cartão, ou responda ao nosso e-mail e ajudaremos você.",
    ),
    offer_busy: said(
        "No momento não conseguimos fazer esta alteração",
        "Tente novamente em um minuto: a alteração é feita uma única vez, não importa quantas vezes você peça.",
    ),
};

pub fn refusals(locale: Locale) -> &'static Refusals {
    match locale {
        Locale::En => &EN,
        Locale::De => &DE,
        Locale::Fr => &FR,
        Locale::Es => &ES,
        Locale::Pt => &PT,
        Locale::PtBr => &PT_BR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_says_every_refusal_in_its_own_words() {
        let all = |r: &Refusals| {
            [
                r.forged,
                r.nothing_to_pay,
                r.card_page_down,
                r.account_page_down,
                r.offer_gone,
                r.nothing_to_change,
                r.offer_not_here,
                r.offer_refused,
                r.offer_busy,
            ]
        };
        let english = all(refusals(Locale::En));
        for locale in Locale::ALL {
            for (said, en) in all(refusals(locale)).iter().zip(&english) {
                assert!(!said.title.is_empty() && !said.message.is_empty());
                if locale != Locale::En {
                    assert_ne!(said.title, en.title, "{locale:?} left in English");
                    assert_ne!(said.message, en.message, "{locale:?} left in English");
                }
            }
        }
    }
}

//! Email delivery through a real SMTP conversation: a minimal SMTP sink on
//! loopback receives what lettre sends.

use std::sync::{Arc, Mutex};

use dunwell::trigger::Scenario;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::helpers::{Backend, spawn_manual};

/// Accepts SMTP sessions and keeps each message's DATA.
async fn smtp_sink() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let messages = Arc::new(Mutex::new(Vec::new()));
    let kept = messages.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.ok();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = &mut data {
                        if line == "." {
                            kept.lock().unwrap().push(std::mem::take(body));
                            data = None;
                            write.write_all(b"250 queued\r\n").await.ok();
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.ok();
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(reply).await.ok();
                }
            });
        }
    });
    (port, messages)
}

async fn emails_go_out_by_smtp_once(backend: Backend) {
    let (port, received) = smtp_sink().await;
    let url = format!("smtp://127.0.0.1:{port}");
    let extra = [
        ("smtp_url", url.as_str()),
        ("mail_from", "Acme Billing <billing@acme.test>"),
    ];
    let Some(app) = spawn_manual(backend, &extra).await else {
        return;
    };
    let s = Scenario {
        invoice: "in_mail_ok".into(),
        event_id: "evt_mail_failed".into(),
        ..Scenario::example("evt_mail", crate::helpers::now())
    };
    app.send("invoice.payment_failed", &s).await;
    app.run_due_jobs().await;
    app.run_due_jobs().await;
    let messages = received.lock().unwrap().clone();
    assert_eq!(messages.len(), 1, "one email, sent once");
    let message = &messages[0];
    assert!(
        message.contains("Subject: We couldn't take your payment of $49.00"),
        "{message}"
    );
    assert!(message.contains("To: maria.silva@example.com"), "{message}");
    assert!(
        message.contains("text/plain") && message.contains("text/html"),
        "{message}"
    );
    assert!(message.contains("Message-ID: <dunwell-"), "{message}");
    assert!(message.contains("Date: "), "{message}");
    let case = app.case("in_mail_ok").await;
    let outbox = app.store.outbox(Some(case.id), 10).await.unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].status, "sent");
    assert!(outbox[0].body_html.contains("/billing/update/"));
    app.shutdown().await;
}

crate::backend_tests!(emails_go_out_by_smtp_once);

//! Integration tests: the real application, spoken to over HTTP.

mod account;
mod billing_page;
mod browser;
mod case_facts;
mod cli;
mod disputes;
mod durability;
mod fixtures;
mod health;
mod helpers;
mod in_a_browser;
mod intake;
mod journey;
mod metrics;
mod offers;
mod operator_api;
mod outgoing;
mod pre_dunning;
mod process;
mod processor_faults;
mod queue;
mod recovery;
mod restarts;
mod smtp;
mod stand_in;
mod stripe_client;

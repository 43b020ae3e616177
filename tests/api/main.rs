//! Integration tests: the real application, spoken to over HTTP.

mod case_facts;
mod cli;
mod durability;
mod fixtures;
mod health;
mod helpers;
mod intake;
mod pre_dunning;
mod queue;
mod recovery;
mod smtp;
mod stand_in;
mod stripe_client;

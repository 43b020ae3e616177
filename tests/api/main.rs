//! Integration tests: the real application, spoken to over HTTP.

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
mod stripe_client;

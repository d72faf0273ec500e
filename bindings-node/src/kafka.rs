//! `new Kafka(config)`: the factory of producers, consumers and admin clients, as in kafkajs.

use napi::Env;
use napi_derive::napi;

use crate::admin::{Admin, AdminConfig};
use crate::config::{KafkaConfig, Settings, kafka_settings, logLevel};
use crate::consumer::{Consumer, ConsumerConfig};
use crate::errors::throw;
use crate::producer::{Producer, ProducerConfig};

#[napi]
pub struct Kafka {
    settings: Settings,
}

#[napi]
impl Kafka {
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, config: KafkaConfig<'_>) -> napi::Result<Self> {
        let settings = throw(&env, kafka_settings(&config))?;
        crate::logging::enable(&config.log_level.unwrap_or(logLevel::INFO));
        Ok(Kafka { settings })
    }

    #[napi(catch_unwind)]
    pub fn producer(&self, env: Env, config: Option<ProducerConfig>) -> napi::Result<Producer> {
        Producer::create(&env, self.settings.clone(), config.unwrap_or_default())
    }

    #[napi(catch_unwind)]
    pub fn consumer(&self, env: Env, config: ConsumerConfig) -> napi::Result<Consumer> {
        throw(&env, Consumer::create(self.settings.clone(), config))
    }

    #[napi(catch_unwind)]
    pub fn admin(&self, env: Env, config: Option<AdminConfig>) -> napi::Result<Admin> {
        throw(&env, Admin::create(self.settings.clone(), config.unwrap_or_default()))
    }
}

//! Jaeger's file-based sampling strategies (`strategies.json`), resolved as Jaeger's static
//! strategy provider does it:
//! - a service's own strategy wins, else the default strategy;
//! - without a `default_strategy`, the default is probabilistic at
//!   `default_sampling_probability`;
//! - per-operation strategies are probabilistic only (rate-limiting ones are skipped); a
//!   service with its own operation strategies also gets the default's operations it lacks,
//!   and a probabilistic service without any inherits the default's operation settings at its
//!   own rate.

use std::collections::HashMap;

use serde::Deserialize;

use crate::proto::api_v2::{
    OperationSamplingStrategy, PerOperationSamplingStrategies, ProbabilisticSamplingStrategy,
    RateLimitingSamplingStrategy, SamplingStrategyResponse, SamplingStrategyType,
};

/// Jaeger's `defaultSamplingProbability`, used for operation defaults.
pub const DEFAULT_SAMPLING_PROBABILITY: f64 = 0.001;

#[derive(Debug, Clone, Default, Deserialize)]
struct StrategiesFile {
    #[serde(default)]
    service_strategies: Vec<ServiceStrategy>,
    #[serde(default)]
    default_strategy: Option<ServiceStrategy>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct ServiceStrategy {
    #[serde(default)]
    service: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    param: f64,
    #[serde(default)]
    operation_strategies: Vec<OperationStrategy>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct OperationStrategy {
    #[serde(default)]
    operation: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    param: f64,
}

/// Resolved strategies: what `GetSamplingStrategy` answers for each service.
#[derive(Debug, Clone, PartialEq)]
pub struct Strategies {
    default: SamplingStrategyResponse,
    services: HashMap<String, SamplingStrategyResponse>,
}

fn probabilistic(rate: f64) -> SamplingStrategyResponse {
    SamplingStrategyResponse {
        strategy_type: SamplingStrategyType::Probabilistic as i32,
        probabilistic_sampling: Some(ProbabilisticSamplingStrategy { sampling_rate: rate }),
        rate_limiting_sampling: None,
        operation_sampling: None,
    }
}

impl Strategies {
    /// Only a default probabilistic strategy: what Jaeger serves with no file.
    pub fn with_default(probability: f64) -> Self {
        Self { default: probabilistic(probability), services: HashMap::new() }
    }

    /// Parses a strategies.json document.
    pub fn parse(json: &[u8], default_probability: f64) -> Result<Self, String> {
        let file: StrategiesFile =
            serde_json::from_slice(json).map_err(|err| format!("cannot parse sampling strategies: {err}"))?;
        let mut out = Self::with_default(default_probability);
        if let Some(default) = &file.default_strategy {
            out.default = service_response(default, default_probability);
        }
        let default_operations = out.default.operation_sampling.as_ref().map(|o| o.per_operation_strategies.clone());
        for service in &file.service_strategies {
            let mut response = service_response(service, default_probability);
            match response.operation_sampling.as_mut() {
                None => {
                    if let (Some(default_ops), Some(probabilistic)) =
                        (&out.default.operation_sampling, &response.probabilistic_sampling)
                    {
                        let mut inherited = default_ops.clone();
                        inherited.default_sampling_probability = probabilistic.sampling_rate;
                        response.operation_sampling = Some(inherited);
                    }
                }
                Some(own) => {
                    if let Some(defaults) = &default_operations {
                        for operation in defaults {
                            if !own.per_operation_strategies.iter().any(|o| o.operation == operation.operation) {
                                own.per_operation_strategies.push(operation.clone());
                            }
                        }
                    }
                }
            }
            out.services.insert(service.service.clone(), response);
        }
        Ok(out)
    }

    pub fn strategy(&self, service: &str) -> SamplingStrategyResponse {
        self.services.get(service).unwrap_or(&self.default).clone()
    }
}

fn strategy_response(kind: &str, param: f64, default_probability: f64) -> SamplingStrategyResponse {
    match kind {
        "probabilistic" => probabilistic(param),
        "ratelimiting" => SamplingStrategyResponse {
            strategy_type: SamplingStrategyType::RateLimiting as i32,
            probabilistic_sampling: None,
            rate_limiting_sampling: Some(RateLimitingSamplingStrategy { max_traces_per_second: param as i32 }),
            operation_sampling: None,
        },
        other => {
            tracing::warn!(strategy = other, "unknown sampling strategy type, using the default");
            probabilistic(default_probability)
        }
    }
}

fn service_response(strategy: &ServiceStrategy, default_probability: f64) -> SamplingStrategyResponse {
    let mut response = strategy_response(&strategy.kind, strategy.param, default_probability);
    if strategy.operation_strategies.is_empty() {
        return response;
    }
    let mut operations = PerOperationSamplingStrategies {
        default_sampling_probability: DEFAULT_SAMPLING_PROBABILITY,
        ..Default::default()
    };
    if let Some(probabilistic) = &response.probabilistic_sampling {
        operations.default_sampling_probability = probabilistic.sampling_rate;
    }
    for operation in &strategy.operation_strategies {
        let parsed = strategy_response(&operation.kind, operation.param, default_probability);
        let Some(probabilistic) = parsed.probabilistic_sampling else {
            tracing::warn!(
                operation = %operation.operation,
                "operation strategies only support probabilistic sampling; skipped"
            );
            continue;
        };
        operations.per_operation_strategies.push(OperationSamplingStrategy {
            operation: operation.operation.clone(),
            probabilistic_sampling: Some(probabilistic),
        });
    }
    response.operation_sampling = Some(operations);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{
      "service_strategies": [
        {"service": "foo", "type": "probabilistic", "param": 0.8,
         "operation_strategies": [{"operation": "op1", "type": "probabilistic", "param": 0.2},
                                  {"operation": "op2", "type": "ratelimiting", "param": 10}]},
        {"service": "bar", "type": "ratelimiting", "param": 5},
        {"service": "baz", "type": "probabilistic", "param": 0.4}
      ],
      "default_strategy": {"type": "probabilistic", "param": 0.5,
        "operation_strategies": [{"operation": "/health", "type": "probabilistic", "param": 0.0},
                                 {"operation": "op1", "type": "probabilistic", "param": 0.9}]}
    }"#;

    #[test]
    fn resolves_like_jaeger() {
        let strategies = Strategies::parse(FILE.as_bytes(), 0.001).unwrap();
        let foo = strategies.strategy("foo");
        let ops = foo.operation_sampling.unwrap();
        assert_eq!(ops.default_sampling_probability, 0.8);
        let names: Vec<_> = ops.per_operation_strategies.iter().map(|o| o.operation.as_str()).collect();
        assert_eq!(names, ["op1", "/health"], "op2 is rate limiting; op1 is the service's own");
        assert_eq!(ops.per_operation_strategies[0].probabilistic_sampling.unwrap().sampling_rate, 0.2);

        let bar = strategies.strategy("bar");
        assert_eq!(bar.strategy_type, SamplingStrategyType::RateLimiting as i32);
        assert_eq!(bar.rate_limiting_sampling.unwrap().max_traces_per_second, 5);
        assert!(bar.operation_sampling.is_none());

        let baz = strategies.strategy("baz").operation_sampling.unwrap();
        assert_eq!(baz.default_sampling_probability, 0.4);
        assert_eq!(baz.per_operation_strategies.len(), 2);

        let other = strategies.strategy("unknown");
        assert_eq!(other.probabilistic_sampling.unwrap().sampling_rate, 0.5);
    }

    #[test]
    fn default_without_file() {
        let strategies = Strategies::parse(br#"{"service_strategies": []}"#, 0.25).unwrap();
        assert_eq!(strategies.strategy("x"), probabilistic(0.25));
        assert!(Strategies::parse(b"{", 0.1).is_err());
    }
}

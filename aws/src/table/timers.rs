//! The sharded timer index: timers due later than the delay queue reaches.

use chrono::{DateTime, Utc};

use super::{body, key, s, to_json, Item, Table, TIMER_SHARDS};
use crate::port_error;
use kairos_core::keys::short_hash;
use kairos_core::model::effect::Timer;
use kairos_core::ports::PortError;

impl Table {
    /// Puts a timer in the sharded index.
    pub async fn put_timer(&self, timer: &Timer) -> Result<(), PortError> {
        let shard =
            u32::from_str_radix(&short_hash(&timer.contact)[..8], 16).unwrap_or(0) % TIMER_SHARDS;
        let mut item = key(
            format!("T#{shard}"),
            format!("{:012}#{}", timer.due.timestamp(), timer.key()),
        );
        item.insert("body".into(), s(to_json(timer, "timer")?));
        self.put(item, "store a timer").await?;
        Ok(())
    }

    /// Removes and returns the indexed timers due at or before `until`. Each is removed
    /// with a conditional delete first, so two concurrent sweeps never both take one.
    pub async fn take_timers(&self, until: DateTime<Utc>) -> Result<Vec<Timer>, PortError> {
        let mut taken = Vec::new();
        let upper = format!("{:012}#\u{10FFFF}", until.timestamp());
        for shard in 0..TIMER_SHARDS {
            let out = self
                .client
                .query()
                .table_name(&self.name)
                .key_condition_expression("#pk = :pk AND #sk <= :upper")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_names("#sk", "sk")
                .expression_attribute_values(":pk", s(format!("T#{shard}")))
                .expression_attribute_values(":upper", s(upper.clone()))
                .limit(500)
                .send()
                .await
                .map_err(|e| port_error("query timers", e))?;
            for item in out.items.unwrap_or_default() {
                let timer: Timer = body(&item, "timer")?;
                let (Some(pk), Some(sk)) = (item.get("pk").cloned(), item.get("sk").cloned())
                else {
                    continue;
                };
                let deleted = self
                    .client
                    .delete_item()
                    .table_name(&self.name)
                    .key("pk", pk)
                    .key("sk", sk)
                    .condition_expression("attribute_exists(#pk)")
                    .expression_attribute_names("#pk", "pk")
                    .send()
                    .await;
                match deleted {
                    Ok(_) => taken.push(timer),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                    Err(e) => return Err(port_error("take a timer", e)),
                }
            }
        }
        taken.sort();
        Ok(taken)
    }

    /// The earliest indexed timer, if any.
    pub async fn next_timer(&self) -> Result<Option<DateTime<Utc>>, PortError> {
        let mut earliest: Option<DateTime<Utc>> = None;
        for shard in 0..TIMER_SHARDS {
            let out = self
                .client
                .query()
                .table_name(&self.name)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_values(":pk", s(format!("T#{shard}")))
                .limit(1)
                .send()
                .await
                .map_err(|e| port_error("query timers", e))?;
            if let Some(item) = out.items.unwrap_or_default().first() {
                let timer: Timer = body(item, "timer")?;
                earliest = Some(earliest.map_or(timer.due, |e| e.min(timer.due)));
            }
        }
        Ok(earliest)
    }

    /// One page of the indexed timers of `shard` due at or before `until`, and where the
    /// next page starts (`None`: that was the last). Nothing is removed: the sweep sends a
    /// timer on first and removes it after ([`Table::remove_timers`]), so a failure part-way
    /// leaves the rest — and the one in flight — for the next sweep.
    pub async fn due_timers(
        &self,
        shard: u32,
        until: DateTime<Utc>,
        start: Option<Item>,
    ) -> Result<(Vec<(Timer, Item)>, Option<Item>), PortError> {
        let upper = format!("{:012}#\u{10FFFF}", until.timestamp());
        let out = self
            .client
            .query()
            .table_name(&self.name)
            .key_condition_expression("#pk = :pk AND #sk <= :upper")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#sk", "sk")
            .expression_attribute_values(":pk", s(format!("T#{shard}")))
            .expression_attribute_values(":upper", s(upper))
            .set_exclusive_start_key(start)
            .limit(200)
            .send()
            .await
            .map_err(|e| port_error("query timers", e))?;
        let mut page = Vec::new();
        for item in out.items.unwrap_or_default() {
            let timer: Timer = body(&item, "timer")?;
            if let (Some(pk), Some(sk)) = (item.get("pk"), item.get("sk")) {
                let key = Item::from([
                    ("pk".to_string(), pk.clone()),
                    ("sk".to_string(), sk.clone()),
                ]);
                page.push((timer, key));
            }
        }
        Ok((page, out.last_evaluated_key.filter(|k| !k.is_empty())))
    }

    /// Removes indexed timers (by the keys `due_timers` gave) once they are on the delay
    /// queue, 25 to a `BatchWriteItem`.
    pub async fn remove_timers(&self, keys: Vec<Item>) -> Result<(), PortError> {
        let requests = keys
            .into_iter()
            .map(Table::delete_request)
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_write(requests).await
    }
}

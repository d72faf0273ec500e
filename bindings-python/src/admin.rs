//! The admin client: each call runs to completion without the GIL and returns per-item
//! results; the Python layer wraps them in futures keyed by name, as confluent-kafka does.

use ferrokafka::admin::OffsetSpec;
use ferrokafka::{Admin, NewTopic, TopicPartitionOffset};
use pyo3::prelude::*;

use crate::consumer::{core_partitions, offset_tuple, partition_tuples};
use crate::errors::{ErrorTuple, IntoPy, to_tuple};
use crate::producer::config_from;
use crate::runtime::{Owner, block_on};

type ItemError = Option<ErrorTuple>;
/// (name, partitions, replication factor, configs).
type TopicSpec = (String, i32, i16, Vec<(String, String)>);

fn results(items: Vec<(String, ferrokafka::Result<()>)>) -> Vec<(String, ItemError)> {
    items.into_iter().map(|(name, r)| (name, r.err().map(|e| to_tuple(&e)))).collect()
}

#[pyclass(module = "ferrokafka._native")]
pub(crate) struct NativeAdmin {
    admin: Admin,
    owner: Owner,
}

#[pymethods]
impl NativeAdmin {
    #[new]
    #[pyo3(signature = (conf, oauth_cb=None))]
    fn new(conf: Vec<(String, String)>, oauth_cb: Option<Py<PyAny>>) -> PyResult<Self> {
        Ok(NativeAdmin { admin: Admin::new(config_from(conf, oauth_cb)?).py_err()?, owner: Owner::here("AdminClient") })
    }

    /// (name, partitions, replication factor, configs) each.
    fn create_topics(&self, py: Python<'_>, topics: Vec<TopicSpec>) -> PyResult<Vec<(String, ItemError)>> {
        self.owner.check()?;
        let admin = self.admin.clone();
        let topics: Vec<NewTopic> = topics
            .into_iter()
            .map(|(name, partitions, rf, configs)| NewTopic { name, partitions, replication_factor: rf, configs })
            .collect();
        block_on(py, async move { admin.create_topics(&topics).await }).py_err().map(results)
    }

    fn delete_topics(&self, py: Python<'_>, topics: Vec<String>) -> PyResult<Vec<(String, ItemError)>> {
        self.owner.check()?;
        let admin = self.admin.clone();
        block_on(py, async move {
            let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
            admin.delete_topics(&refs).await
        })
        .py_err()
        .map(results)
    }

    fn create_partitions(&self, py: Python<'_>, counts: Vec<(String, i32)>) -> PyResult<Vec<(String, ItemError)>> {
        self.owner.check()?;
        let admin = self.admin.clone();
        block_on(py, async move {
            let refs: Vec<(&str, i32)> = counts.iter().map(|(t, n)| (t.as_str(), *n)).collect();
            admin.create_partitions(&refs).await
        })
        .py_err()
        .map(results)
    }

    /// (cluster id, controller id, [(broker id, host, port)], [(topic, partitions, internal)]).
    #[allow(clippy::type_complexity)]
    fn list_topics(
        &self,
        py: Python<'_>,
    ) -> PyResult<(String, i32, Vec<(i32, String, i32)>, Vec<(String, i32, bool)>)> {
        self.owner.check()?;
        let admin = self.admin.clone();
        block_on(py, async move {
            let cluster = admin.describe_cluster().await?;
            let topics = admin.list_topics().await?;
            Ok::<_, ferrokafka::Error>((
                cluster.cluster_id,
                cluster.controller,
                cluster.brokers.into_iter().map(|b| (b.id, b.host, b.port)).collect(),
                topics.into_iter().map(|t| (t.name, t.partitions, t.internal)).collect(),
            ))
        })
        .py_err()
    }

    /// (group id, protocol type, state) each.
    fn list_groups(&self, py: Python<'_>) -> PyResult<Vec<(String, String, String)>> {
        self.owner.check()?;
        let admin = self.admin.clone();
        let groups = block_on(py, async move { admin.list_groups().await }).py_err()?;
        Ok(groups.into_iter().map(|g| (g.group_id, g.protocol_type, g.state)).collect())
    }

    /// (group id, state, protocol type, assignor, [(member id, instance id, client id, host, [(topic, partition)])]).
    #[allow(clippy::type_complexity)]
    fn describe_groups(
        &self,
        py: Python<'_>,
        groups: Vec<String>,
    ) -> PyResult<
        Vec<(String, String, String, String, Vec<(String, Option<String>, String, String, Vec<(String, i32)>)>)>,
    > {
        self.owner.check()?;
        let admin = self.admin.clone();
        let described = block_on(py, async move {
            let refs: Vec<&str> = groups.iter().map(String::as_str).collect();
            admin.describe_groups(&refs).await
        })
        .py_err()?;
        Ok(described
            .into_iter()
            .map(|g| {
                let members = g
                    .members
                    .into_iter()
                    .map(|m| (m.member_id, m.instance_id, m.client_id, m.host, partition_tuples(m.assignment)))
                    .collect();
                (g.group_id, g.state, g.protocol_type, g.protocol, members)
            })
            .collect())
    }

    fn delete_groups(&self, py: Python<'_>, groups: Vec<String>) -> PyResult<Vec<(String, ItemError)>> {
        self.owner.check()?;
        let admin = self.admin.clone();
        block_on(py, async move {
            let refs: Vec<&str> = groups.iter().map(String::as_str).collect();
            admin.delete_groups(&refs).await
        })
        .py_err()
        .map(results)
    }

    fn list_group_offsets(&self, py: Python<'_>, group: String) -> PyResult<Vec<(String, i32, i64, String)>> {
        self.owner.check()?;
        let admin = self.admin.clone();
        let offsets = block_on(py, async move { admin.list_group_offsets(&group).await }).py_err()?;
        Ok(offsets.into_iter().map(offset_tuple).map(|(t, p, o, m)| (t, p, o, m.unwrap_or_default())).collect())
    }

    fn alter_group_offsets(&self, py: Python<'_>, group: String, offsets: Vec<(String, i32, i64)>) -> PyResult<()> {
        self.owner.check()?;
        let admin = self.admin.clone();
        let offsets: Vec<_> = offsets.into_iter().map(|(t, p, o)| TopicPartitionOffset::new(t, p, o)).collect();
        block_on(py, async move { admin.alter_group_offsets(&group, &offsets).await }).py_err()
    }

    /// `spec`: -2 earliest, -1 latest, else a timestamp.
    fn list_offsets(
        &self,
        py: Python<'_>,
        partitions: Vec<(String, i32)>,
        spec: i64,
    ) -> PyResult<Vec<(String, i32, i64)>> {
        self.owner.check()?;
        let admin = self.admin.clone();
        let spec = match spec {
            -2 => OffsetSpec::Earliest,
            -1 => OffsetSpec::Latest,
            t => OffsetSpec::Timestamp(t),
        };
        let partitions = core_partitions(partitions);
        let got = block_on(py, async move { admin.list_offsets(&partitions, spec).await }).py_err()?;
        Ok(got.into_iter().map(|(tp, o)| (tp.topic, tp.partition, o)).collect())
    }
}

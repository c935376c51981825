//! Every SDK method against the real server, on SQLite and on PostgreSQL.

mod common;

use common::fixtures::{
    connect_hubspot, create_docs_mcp_server, disconnect, page_of_one, read_and_edit_draft,
    read_and_regreet, restore_then_hard_delete, rollout_to, save_draft, soft_delete,
    store_crm_and_ftp_secrets,
};
use common::{assert_api_error, Backend, TestServer};
use futures::TryStreamExt;
use parley_client::types::assistants::{
    AssistantCreateParams, AssistantMcpServer, VersionUpdateParams,
};
use parley_client::types::canary_deploys::{
    CanaryDeployParams, CanaryRule, CanaryServe, Clause, ClauseOperator,
};
use parley_client::types::integration_secrets::IntegrationSecretCreateParams;
use parley_client::types::integrations::IntegrationConnectionCreateParams;
use parley_client::types::mcp_servers::{
    McpServerCreateParams, McpServerListParams, McpServerUpdateParams,
};
use parley_client::types::PageParams;
use parley_client::{Error, RequestOptions};
use serde_json::{json, Value};

fn assistant(name: &str) -> AssistantCreateParams {
    AssistantCreateParams {
        name: name.into(),
        instructions: format!("You are {name}."),
        ..Default::default()
    }
}

async fn assistants_are_created_read_updated_cloned_tagged_deleted_and_restored(
    server: TestServer,
) {
    let assistants = server.client.ai().assistants();
    let created = assistants
        .create(&AssistantCreateParams {
            greeting: Some("Hello!".into()),
            tags: Some(vec!["billing".into()]),
            tools: Some(vec![json!({"type": "hangup", "hangup": {}})]),
            telephony_settings: Some(json!({"time_limit_secs": 600})),
            dynamic_variables: Some(json!({"customer_name": "Ada"}).as_object().unwrap().clone()),
            ..assistant("Support")
        })
        .await
        .unwrap();
    assert!(created.id.starts_with("assistant-"), "{}", created.id);
    assert_eq!(created.name, "Support");
    assert_eq!(created.model, "HuggingFaceTB/SmolLM2-135M-Instruct");
    assert_eq!(created.greeting.as_deref(), Some("Hello!"));
    assert_eq!(created.tags, ["billing"]);
    assert_eq!(created.tools[0]["type"], "hangup");
    assert_eq!(created.dynamic_variables_webhook_timeout_ms, Some(1500));
    assert!(created.version_id.is_some());

    // A partial update: only the greeting changes; `null` in `extra` clears a field.
    let updated = read_and_regreet(&server, &created, |update| {
        update.extra.insert("dynamic_variables".into(), Value::Null);
    })
    .await;
    assert_eq!(updated.dynamic_variables, None);

    let clone = assistants.clone(&created.id).await.unwrap();
    assert_eq!(clone.name, "Support (Clone)");
    assert_ne!(clone.id, created.id);
    assert_eq!(clone.tags, ["billing"]);
    assert_eq!(clone.telephony_settings, None, "telephony is not cloned");

    let texml = assistants.get_texml(&created.id).await.unwrap();
    assert!(texml.starts_with("<?xml"), "{texml}");
    assert!(
        texml.contains(&format!("<AIAssistant id=\"{}\"/>", created.id)),
        "{texml}"
    );

    let tags = assistants.tags();
    assert_eq!(
        tags.add(&created.id, "vip").await.unwrap().tags,
        ["billing", "vip"]
    );
    assert_eq!(
        tags.add(&clone.id, "a b/c").await.unwrap().tags,
        ["billing", "a b/c"]
    );
    assert_eq!(tags.list().await.unwrap().tags, ["a b/c", "billing", "vip"]);
    assert_eq!(
        tags.remove(&clone.id, "a b/c").await.unwrap().tags,
        ["billing"]
    );
    assert_eq!(tags.list().await.unwrap().tags, ["billing", "vip"]);

    // Lists: everything at once, one page, and a stream over pages of one.
    assistants.create(&assistant("Third")).await.unwrap();
    let all = assistants.list().await.unwrap();
    let names: Vec<&str> = all.data.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["Support", "Support (Clone)", "Third"]);
    assert_eq!(all.meta.unwrap().total_results, 3);
    let second = assistants
        .list_with(&PageParams {
            page_number: Some(2),
            page_size: Some(2),
        })
        .await
        .unwrap();
    assert_eq!(second.data.len(), 1);
    assert_eq!(second.meta.unwrap().page_number, 2);
    let streamed: Vec<String> = assistants
        .list_all(&page_of_one())
        .map_ok(|a| a.name)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(streamed, names);

    // Soft delete, the deleted views, restore; then a hard delete.
    soft_delete(&server, &clone.id).await;
    let page = assistants.deleted().list().await.unwrap();
    assert_eq!(page.data.len(), 1);
    assert_eq!(page.data[0].assistant.id, clone.id);
    assert!(!page.data[0].permanently_deleted_at.is_empty());
    let one = assistants.deleted().retrieve(&clone.id).await.unwrap();
    assert_eq!(one.assistant.name, "Support (Clone)");
    assistants.delete(&created.id).await.unwrap();
    let every: Vec<_> = assistants
        .deleted()
        .list_all(&page_of_one())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(every.len(), 2);
    restore_then_hard_delete(&server, &clone.id).await;
}

async fn versions_and_canary_deploys_are_managed(server: TestServer) {
    let assistants = server.client.ai().assistants();
    let created = assistants.create(&assistant("Versioned")).await.unwrap();
    let main = created.version_id.clone().unwrap();
    let draft_id = save_draft(&server, &created.id).await;
    assert_eq!(
        assistants.retrieve(&created.id).await.unwrap().version_id,
        Some(main.clone()),
        "main is kept"
    );

    let versions = assistants.versions();
    let list = versions.list(&created.id).await.unwrap();
    let ids: Vec<String> = list
        .data
        .iter()
        .filter_map(|v| v.version_id.clone())
        .collect();
    assert_eq!(ids, [draft_id.clone(), main.clone()], "newest first");
    let (fetched, edited) = read_and_edit_draft(&server, &created.id, &draft_id).await;
    assert_eq!(fetched.version_name.as_deref(), Some("draft one"));
    assert_eq!(edited.version_id.as_deref(), Some(draft_id.as_str()));
    let refused = assert_api_error(
        versions
            .update(&created.id, &main, &VersionUpdateParams::default())
            .await,
        400,
        "10018",
    );
    assert!(refused.to_string().contains("main"), "{refused}");
    assert_api_error(
        versions.retrieve(&created.id, "no-such-version").await,
        404,
        "10005",
    );

    // The canary deploy: create, read, replace, and its hold on the versions it serves.
    let canary = assistants.canary_deploys();
    assert_api_error(canary.retrieve(&created.id).await, 404, "10005");
    let rollout = rollout_to(&draft_id, 25.0);
    let deploy = canary.create(&created.id, &rollout).await.unwrap();
    assert_eq!(deploy.assistant_id, created.id);
    assert_eq!(deploy.rules, rollout.rules);
    assert_eq!(canary.retrieve(&created.id).await.unwrap(), deploy);
    let fixed = CanaryDeployParams {
        rules: vec![CanaryRule {
            matches: vec![Clause {
                attribute: "tier".into(),
                operator: ClauseOperator::In,
                values: vec!["gold".into()],
            }],
            serve: CanaryServe::version(draft_id.clone()),
        }],
    };
    let replaced = canary.update(&created.id, &fixed).await.unwrap();
    assert_eq!(replaced.rules, fixed.rules);
    assert_eq!(replaced.created_at, deploy.created_at);
    assert_api_error(versions.delete(&created.id, &draft_id).await, 400, "10018");
    canary.delete(&created.id).await.unwrap();
    assert_api_error(canary.retrieve(&created.id).await, 404, "10005");
    assert_api_error(canary.delete(&created.id).await, 404, "10005");
    let unknown = CanaryDeployParams {
        rules: vec![CanaryRule {
            matches: vec![],
            serve: CanaryServe::version("version-unknown"),
        }],
    };
    let error = assert_api_error(canary.create(&created.id, &unknown).await, 422, "10016");
    let source = error.envelope().unwrap().errors[0].source.clone().unwrap();
    assert_eq!(source.pointer.as_deref(), Some("/rules/0/serve/version_id"));

    // Promote the draft: it becomes main and the canary deploy goes away.
    canary.create(&created.id, &rollout).await.unwrap();
    let promoted = versions.promote(&created.id, &draft_id).await.unwrap();
    assert_eq!(promoted.version_id.as_deref(), Some(draft_id.as_str()));
    assert_eq!(promoted.greeting.as_deref(), Some("Draft greeting"));
    assert_api_error(canary.retrieve(&created.id).await, 404, "10005");
    versions.delete(&created.id, &main).await.unwrap();
    assert_api_error(versions.delete(&created.id, &draft_id).await, 400, "10018");
    assert_eq!(versions.list(&created.id).await.unwrap().data.len(), 1);
}

async fn mcp_servers_secrets_and_integrations_are_managed(server: TestServer) {
    let secrets = server.client.integration_secrets();
    let (token, basic, identifiers) = store_crm_and_ftp_secrets(&server, "t0ken-value").await;
    assert_eq!(token.record_type.as_deref(), Some("integration_secret"));
    assert!(!serde_json::to_string(&token)
        .unwrap()
        .contains("t0ken-value"));
    assert_eq!(identifiers, ["crm-token", "ftp"]);
    let error = assert_api_error(
        secrets
            .create(&IntegrationSecretCreateParams::bearer("crm-token", "again"))
            .await,
        422,
        "10016",
    );
    assert!(error.to_string().contains("/identifier"), "{error}");
    let page = secrets.list().await.unwrap();
    assert_eq!(page.meta.total_results, 2);

    // MCP servers: three, listed one per page until the empty page.
    let mcp = server.client.ai().mcp_servers();
    let first = create_docs_mcp_server(&server, |params| {
        params.allowed_tools = Some(vec!["search".into()]);
    })
    .await;
    for (name, kind) in [("Legacy", "sse"), ("Plain", "http")] {
        mcp.create(&McpServerCreateParams {
            name: name.into(),
            server_type: kind.into(),
            url: format!("https://{kind}.example.com/"),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    assert_eq!(mcp.list().await.unwrap().len(), 3);
    let sse = mcp
        .list_with(&McpServerListParams {
            server_type: Some("sse".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(sse.len(), 1);
    assert_eq!(sse[0].name, "Legacy");
    let names: Vec<String> = mcp
        .list_all(&one_per_page!(McpServerListParams))
        .map_ok(|s| s.name)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(names, ["Docs", "Legacy", "Plain"]);
    assert_eq!(mcp.retrieve(&first.id).await.unwrap(), first);
    let mut update = McpServerUpdateParams {
        name: Some("Docs v2".into()),
        ..Default::default()
    };
    update.extra.insert("allowed_tools".into(), Value::Null);
    let renamed = mcp.update(&first.id, &update).await.unwrap();
    assert_eq!(renamed.name, "Docs v2");
    assert_eq!(renamed.allowed_tools, None);
    assert_eq!(renamed.url, first.url);

    // An assistant using the server keeps it from being deleted.
    let user = server
        .client
        .ai()
        .assistants()
        .create(&AssistantCreateParams {
            mcp_servers: Some(vec![AssistantMcpServer {
                id: first.id.clone(),
                allowed_tools: None,
            }]),
            ..assistant("Uses MCP")
        })
        .await
        .unwrap();
    assert_eq!(user.mcp_servers[0].id, first.id);
    assert_api_error(mcp.delete(&first.id).await, 400, "10018");
    server
        .client
        .ai()
        .assistants()
        .delete(&user.id)
        .await
        .unwrap();
    mcp.delete(&first.id).await.unwrap();
    assert_api_error(mcp.retrieve(&first.id).await, 404, "10005");

    // Integrations: the catalogue, and a connection to HubSpot.
    let integrations = server.client.ai().integrations();
    let catalogue = integrations.list().await.unwrap();
    assert!(catalogue.data.len() >= 9);
    let (hubspot, connection) = connect_hubspot(&server).await;
    assert_eq!(
        connection.allowed_tools,
        [hubspot.available_tools[0].clone()]
    );
    assert_eq!(connection.api_key_ref.as_deref(), Some("crm-token"));
    let connections = integrations.connections();
    assert_api_error(
        connections
            .create(&IntegrationConnectionCreateParams {
                integration_id: "hubspot".into(),
                api_key_ref: "crm-token".into(),
                ..Default::default()
            })
            .await,
        422,
        "10016",
    );
    disconnect(&server, &connection.id).await;
    assert_api_error(integrations.retrieve("nope").await, 404, "10005");

    secrets.delete(&basic.id).await.unwrap();
    assert_api_error(secrets.delete(&basic.id).await, 404, "10005");
    assert_eq!(secrets.list().await.unwrap().data.len(), 1);
}

async fn errors_keys_and_idempotency(server: TestServer) {
    // Bad input is a 422 with a pointer; a wrong key a 401; neither is retried.
    let assistants = server.client.ai().assistants();
    let invalid = AssistantCreateParams {
        dynamic_variables_webhook_timeout_ms: Some(0),
        ..assistant("Invalid")
    };
    let error = assert_api_error(assistants.create(&invalid).await, 422, "10016");
    assert!(
        error.to_string().starts_with("422 ")
            && error
                .to_string()
                .contains("/dynamic_variables_webhook_timeout_ms"),
        "{error}"
    );
    let stranger = server.client_with_key("not-a-real-key");
    assert_api_error(stranger.ai().assistants().list().await, 401, "10009");

    // Empty ids are refused before anything is sent.
    for result in [
        assistants.retrieve("").await.map(drop),
        assistants.versions().promote("a", "").await.map(drop),
        server.client.ai().mcp_servers().delete("").await,
    ] {
        assert!(
            matches!(result, Err(Error::InvalidArgument(_))),
            "{result:?}"
        );
    }

    // A caller-chosen idempotency key replays the first response.
    let once = server.client.with_options(RequestOptions {
        idempotency_key: Some("create-support-1".into()),
        ..Default::default()
    });
    let first = once
        .ai()
        .assistants()
        .create(&assistant("Once"))
        .await
        .unwrap();
    let again = once
        .ai()
        .assistants()
        .create(&assistant("Once"))
        .await
        .unwrap();
    assert_eq!(first.id, again.id);
    assert_api_error(
        once.ai().assistants().create(&assistant("Other")).await,
        422,
        "10017",
    );
    // Generated keys differ per call: two creates make two assistants.
    assistants.create(&assistant("Twice")).await.unwrap();
    assistants.create(&assistant("Twice")).await.unwrap();
    assert_eq!(assistants.list().await.unwrap().data.len(), 3);
}

on_both_backends!(
    assistants_are_created_read_updated_cloned_tagged_deleted_and_restored,
    versions_and_canary_deploys_are_managed,
    mcp_servers_secrets_and_integrations_are_managed,
    errors_keys_and_idempotency,
);

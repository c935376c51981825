//! Every SDK method against the real server, on SQLite and on PostgreSQL.

mod common;

use common::{assert_api_error, Backend, TestServer};
use futures::TryStreamExt;
use parley_client::types::assistants::{
    AssistantCreateParams, AssistantDeleteParams, AssistantMcpServer, AssistantRetrieveParams,
    AssistantUpdateParams, VersionRetrieveParams, VersionUpdateParams,
};
use parley_client::types::canary_deploys::{
    CanaryDeployParams, CanaryRule, CanaryServe, Clause, ClauseOperator, RolloutSlot,
};
use parley_client::types::integration_secrets::{
    IntegrationSecretCreateParams, IntegrationSecretListParams, SecretType,
};
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

    let fetched = assistants.retrieve(&created.id).await.unwrap();
    assert_eq!(fetched, created);
    let with_query = assistants
        .retrieve_with(
            &created.id,
            &AssistantRetrieveParams {
                fetch_dynamic_variables_from_webhook: Some(false),
                from: Some("+15550001111".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(with_query.id, created.id);

    // A partial update: only the greeting changes; `null` in `extra` clears a field.
    let mut update = AssistantUpdateParams {
        greeting: Some("Hi again!".into()),
        ..Default::default()
    };
    update.extra.insert("dynamic_variables".into(), Value::Null);
    let updated = assistants.update(&created.id, &update).await.unwrap();
    assert_eq!(updated.greeting.as_deref(), Some("Hi again!"));
    assert_eq!(updated.instructions, created.instructions);
    assert_eq!(updated.dynamic_variables, None);
    assert_ne!(updated.version_id, created.version_id);

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
        .list_all(&PageParams {
            page_size: Some(1),
            ..Default::default()
        })
        .map_ok(|a| a.name)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(streamed, names);

    // Soft delete, the deleted views, restore; then a hard delete.
    let deleted = assistants.delete(&clone.id).await.unwrap();
    assert!(deleted.deleted && deleted.id == clone.id && deleted.object == "assistant");
    assert_api_error(assistants.retrieve(&clone.id).await, 404, "10005");
    let page = assistants.deleted().list().await.unwrap();
    assert_eq!(page.data.len(), 1);
    assert_eq!(page.data[0].assistant.id, clone.id);
    assert!(!page.data[0].permanently_deleted_at.is_empty());
    let one = assistants.deleted().retrieve(&clone.id).await.unwrap();
    assert_eq!(one.assistant.name, "Support (Clone)");
    assistants.delete(&created.id).await.unwrap();
    let every: Vec<_> = assistants
        .deleted()
        .list_all(&PageParams {
            page_size: Some(1),
            ..Default::default()
        })
        .try_collect()
        .await
        .unwrap();
    assert_eq!(every.len(), 2);
    let restored = assistants.restore(&clone.id).await.unwrap();
    assert_eq!(restored.id, clone.id);
    assert_eq!(assistants.retrieve(&clone.id).await.unwrap().id, clone.id);
    assistants
        .delete_with(
            &clone.id,
            &AssistantDeleteParams {
                hard_delete: Some(true),
            },
        )
        .await
        .unwrap();
    assert_api_error(assistants.deleted().retrieve(&clone.id).await, 404, "10005");
    assert_api_error(assistants.restore(&clone.id).await, 404, "10005");
}

async fn versions_and_canary_deploys_are_managed(server: TestServer) {
    let assistants = server.client.ai().assistants();
    let created = assistants.create(&assistant("Versioned")).await.unwrap();
    let main = created.version_id.clone().unwrap();
    let draft = assistants
        .update(
            &created.id,
            &AssistantUpdateParams {
                instructions: Some("Draft instructions.".into()),
                promote_to_main: Some(false),
                version_name: Some("draft one".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let draft_id = draft.version_id.clone().unwrap();
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
    let fetched = versions.retrieve(&created.id, &draft_id).await.unwrap();
    assert_eq!(fetched.instructions, "Draft instructions.");
    assert_eq!(fetched.version_name.as_deref(), Some("draft one"));
    let fetched = versions
        .retrieve_with(
            &created.id,
            &draft_id,
            &VersionRetrieveParams {
                include_mcp_servers: Some(true),
            },
        )
        .await
        .unwrap();
    assert_eq!(fetched.version_id.as_deref(), Some(draft_id.as_str()));
    let edited = versions
        .update(
            &created.id,
            &draft_id,
            &VersionUpdateParams {
                greeting: Some("Draft greeting".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(edited.greeting.as_deref(), Some("Draft greeting"));
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
    let rollout = CanaryDeployParams {
        rules: vec![CanaryRule {
            matches: vec![],
            serve: CanaryServe::rollout(vec![RolloutSlot {
                version_id: draft_id.clone(),
                weight: 25.0,
            }]),
        }],
    };
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
    let token = secrets
        .create(&IntegrationSecretCreateParams::bearer(
            "crm-token",
            "t0ken-value",
        ))
        .await
        .unwrap();
    assert_eq!(token.identifier, "crm-token");
    assert_eq!(token.record_type.as_deref(), Some("integration_secret"));
    assert!(!serde_json::to_string(&token)
        .unwrap()
        .contains("t0ken-value"));
    let basic = secrets
        .create(&IntegrationSecretCreateParams::basic("ftp", "user", "pa55"))
        .await
        .unwrap();
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
    let only_basic = secrets
        .list_with(&IntegrationSecretListParams {
            filter_type: Some(SecretType::Basic),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(only_basic.data.len(), 1);
    assert_eq!(only_basic.data[0].id, basic.id);
    let identifiers: Vec<String> = secrets
        .list_all(&IntegrationSecretListParams {
            page_size: Some(1),
            ..Default::default()
        })
        .map_ok(|s| s.identifier)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(identifiers, ["crm-token", "ftp"]);

    // MCP servers: three, listed one per page until the empty page.
    let mcp = server.client.ai().mcp_servers();
    let first = mcp
        .create(&McpServerCreateParams {
            name: "Docs".into(),
            server_type: "streamable-http".into(),
            url: "https://mcp.example.com/mcp".into(),
            allowed_tools: Some(vec!["search".into()]),
            api_key_ref: Some("crm-token".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(first.server_type, "streamable-http");
    assert_eq!(first.api_key_ref.as_deref(), Some("crm-token"));
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
        .list_all(&McpServerListParams {
            page_size: Some(1),
            ..Default::default()
        })
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
    let hubspot = integrations.retrieve("hubspot").await.unwrap();
    assert_eq!(hubspot.status, "disconnected");
    assert!(!hubspot.available_tools.is_empty());
    let connections = integrations.connections();
    let connection = connections
        .create(&IntegrationConnectionCreateParams {
            integration_id: "hubspot".into(),
            api_key_ref: "crm-token".into(),
            allowed_tools: Some(vec![hubspot.available_tools[0].clone()]),
            base_url: None,
        })
        .await
        .unwrap();
    assert_eq!(
        connection.allowed_tools,
        [hubspot.available_tools[0].clone()]
    );
    assert_eq!(connection.api_key_ref.as_deref(), Some("crm-token"));
    assert_eq!(
        connections.retrieve(&connection.id).await.unwrap(),
        connection
    );
    assert_eq!(
        connections.list().await.unwrap().data,
        std::slice::from_ref(&connection)
    );
    assert_eq!(
        integrations.retrieve("hubspot").await.unwrap().status,
        "connected"
    );
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
    connections.delete(&connection.id).await.unwrap();
    assert_api_error(connections.retrieve(&connection.id).await, 404, "10005");
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

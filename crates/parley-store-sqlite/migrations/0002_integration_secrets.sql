-- integration_secrets
select 1;

-- canary_deploys
select 1;

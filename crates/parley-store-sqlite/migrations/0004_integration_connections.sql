-- integration_connections
select 1;

-- mcp_servers
select 1;

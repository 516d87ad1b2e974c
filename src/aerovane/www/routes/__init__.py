"""Page routers, one module per area; `PAGE_ROUTERS` lists them in the order they are mounted."""

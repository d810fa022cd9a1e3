"""What every service shares: settings fields, the ClickHouse client, the topic plan."""

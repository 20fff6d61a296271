"""Community and member KPIs (pure functions) and the HTML report."""

"""Real protocol servers on 127.0.0.1 standing in for the downstream API, Splunk HEC, Dynatrace
and SMTP."""

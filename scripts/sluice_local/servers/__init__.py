"""Real protocol servers on 127.0.0.1 standing in for Splunk HEC, Dynatrace and SMTP."""

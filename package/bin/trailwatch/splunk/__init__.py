"""splunk"""

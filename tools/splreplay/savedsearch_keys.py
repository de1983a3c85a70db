"""The savedsearches.conf settings splreplay accepts: settings savedsearches.conf.spec
(Admin Manual, "savedsearches.conf") defines. A saved search with any other setting is
refused, naming it: Splunk ignores an unknown setting, so a wrong name there (``is_scheduled``
for ``enableSched``, a dispatch window that never applies) would otherwise go unseen.

This is a minimal list of the spec's settings (the ones a scheduled alert uses and their
neighbours), plus its pattern settings: ``action.<action_name>`` and
``action.<action_name>.<parameter>`` (parameters come from the action's alert_actions.conf),
``display.*`` (UI settings) and ``auto_summarize.*``.
"""
import re

SPEC_KEYS = frozenset("""
search description disabled enableSched is_visible cron_schedule schedule_window
schedule_priority realtime_schedule allow_skew max_concurrent run_on_startup run_n_times
restart_on_searchpeer_add counttype relation quantity alert_condition actions
alert.digest_mode alert.expires alert.severity alert.suppress alert.suppress.fields
alert.suppress.period alert.suppress.group_name alert.track alert.display_view
alert.managedBy dispatch.ttl dispatch.buckets dispatch.max_count dispatch.max_time
dispatch.lookups dispatch.earliest_time dispatch.latest_time dispatch.index_earliest
dispatch.index_latest dispatch.time_format dispatch.spawn_process dispatch.auto_cancel
dispatch.auto_pause dispatch.reduce_freq dispatch.rt_backfill dispatch.rt_maximum_span
dispatch.indexedRealtime dispatch.indexedRealtimeOffset dispatch.indexedRealtimeMinSpan
dispatch.sample_ratio dispatch.allow_partial_results dispatchAs request.ui_dispatch_app
request.ui_dispatch_view displayview vsid qualifiedSearch embed.enabled defer_scan
workload_pool durable.track_time_type durable.lag_time durable.backfill_type
durable.max_backfill_intervals
""".split())

_PATTERNS = (
    re.compile(r"action\.[A-Za-z0-9_]+(\.[A-Za-z0-9_.]+)?$"),
    re.compile(r"display\.[A-Za-z0-9_.]+$"),
    re.compile(r"auto_summarize(\.[A-Za-z0-9_.]+)?$"),
)


def undefined_keys(settings):
    """The keys of a saved search's settings that savedsearches.conf.spec does not define."""
    return sorted(k for k in settings
                  if k not in SPEC_KEYS and not any(p.match(k) for p in _PATTERNS))

// Renders one Dashboard Studio definition (window.TW_DEFINITION) with Splunk's dashboard
// framework and its view-only Enterprise preset, and publishes what happened (schema errors,
// console errors, per-visualization DOM facts) as JSON in #tw-report for the test to read.
import React from 'react';
import { createRoot } from 'react-dom/client';
import DashboardCore from '@splunk/dashboard-core';
import { DashboardContextProvider } from '@splunk/dashboard-context';
import EnterpriseViewOnlyPreset from '@splunk/dashboard-presets/EnterpriseViewOnlyPreset';
import { createSchemaBasedOnPresets } from '@splunk/dashboard-definition';
import { DashboardValidator } from '@splunk/dashboard-validation';

const report = { schema: [], validation: [], errors: [], rendered: false, visualizations: {} };

// The framework validates in a web worker and only reports failures; validate here too,
// synchronously, with the same validator and the schema the preset defines, the definition
// as the framework holds it (after its own migrations of older layouts), so the report
// always says whether validation ran and what it found.
report.schemaChecked = false;
function validate(api) {
    if (!api || report.schemaChecked) return;
    const validator = new DashboardValidator();
    const problem = validator.setSchema(createSchemaBasedOnPresets(EnterpriseViewOnlyPreset));
    if (problem) {
        report.schema.push('the preset schema did not compile: ' + problem);
        return;
    }
    (validator.validate(api.getDefinition()) || []).forEach((e) => {
        report.schema.push((e.instancePath || '') + ' ' + (e.message || JSON.stringify(e)));
    });
    report.schemaChecked = true;
}

const consoleError = console.error.bind(console);
console.error = (...args) => {
    report.errors.push(args.map((a) => (a && a.stack) || String(a)).join(' '));
    consoleError(...args);
};
window.addEventListener('error', (e) => report.errors.push('uncaught: ' + e.message));
window.addEventListener('unhandledrejection', (e) => report.errors.push('unhandled rejection: ' + e.reason));
document.addEventListener('dashboardCore.rendered', () => { report.rendered = true; });

// What each visualization drew: text, table cells, canvas and svg elements in its box.
function inspectVisualizations() {
    const found = {};
    document.querySelectorAll('[data-test="viz-item"][data-id]').forEach((el) => {
        const id = el.getAttribute('data-id');
        if (!(id in window.TW_DEFINITION.visualizations)) return;
        const canvases = Array.from(el.querySelectorAll('canvas'));
        found[id] = {
            text: (el.innerText || '').slice(0, 2000),
            cells: el.querySelectorAll('td').length,
            canvases: canvases.length,
            drawnCanvases: canvases.filter((c) => c.width > 0 && c.height > 0).length,
            svgShapes: el.querySelectorAll('svg path, svg rect, svg circle, svg text').length,
        };
    });
    report.visualizations = found;
}

function publish() {
    inspectVisualizations();
    document.getElementById('tw-report').textContent = JSON.stringify(report);
}
setInterval(publish, 250);

createRoot(document.getElementById('tw-root')).render(
    <DashboardContextProvider preset={EnterpriseViewOnlyPreset} initialDefinition={window.TW_DEFINITION}>
        <DashboardCore width="100%" height="auto" dashboardCoreApiRef={validate}
            onValidationError={(message) => report.validation.push(String(message))} />
    </DashboardContextProvider>
);

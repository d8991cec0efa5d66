// Reekolect Companion for a plain <script async> include. Configured by the data-*
// attributes of its own tag (data-proxy-url, data-uuid-key, data-bot-id, data-customer-id,
// data-bot-page-url, data-batch-window-ms, data-track-pages, …). Calls queued on
// window.reekolect before it loaded (by the inline snippet) are replayed in order;
// afterwards the same global is the API.
// scripts/build.sh bundles it with the loader and the wasm-bindgen glue into one classic
// script, so the only request after this one is the .wasm, which this file starts itself
// (once the page has loaded, at low priority: docs/loading.md).
import { loader } from './load.js';

(function () {
  'use strict';
  var METHODS = ['identify', 'setAttributes', 'addTags', 'addNote', 'setStatus', 'assignAgent',
    'updateLead', 'flush', 'reset', 'on', 'off', 'context', 'captureForms', 'captureForm', 'setConsent', 'setVisitorToken', 'track'];
  var FLAGS = ['captureForms', 'requireConsent', 'attribution', 'trackPages'];
  var script = document.currentScript;
  var queue = window.reekolect = window.reekolect || [];
  if (queue.loaded || !script) return; // included twice, or not as a classic script
  // Starts the .wasm download (beside this file, or the page if inlined) without waiting for init().
  var init = loader(new URL('reekolect_companion_bg.wasm', script.src || location.href));

  var config = {};
  Object.keys(script.dataset).forEach(function (key) {
    var value = script.dataset[key];
    if (FLAGS.indexOf(key) >= 0) config[key] = value !== 'false'; // data-capture-forms alone means true
    else config[key] = /Ms$/.test(key) && /^\d+$/.test(value) ? Number(value) : value;
  });

  function warn(error) {
    console.warn('Reekolect:', error && error.message ? error.message : error);
  }

  function run(companion, command) {
    if (!Array.isArray(command) || METHODS.indexOf(command[0]) < 0) {
      warn('reekolect.push() takes [method, ...arguments] with a method among ' + METHODS.join(', '));
      return;
    }
    try {
      var result = companion[command[0]].apply(companion, command.slice(1));
      if (result && typeof result.catch === 'function') result.catch(warn); // reported, never unhandled
      return result;
    } catch (error) {
      warn(error);
    }
  }

  init(config)
    .then(function (companion) {
      queue.loaded = true;
      while (queue.length) run(companion, queue.shift());
      queue.push = function () {
        for (var i = 0; i < arguments.length; i++) run(companion, arguments[i]);
        return 0;
      };
      METHODS.forEach(function (name) {
        queue[name] = function () { return run(companion, [name].concat([].slice.call(arguments))); };
      });
      queue.companion = companion;
    })
    .catch(function (error) {
      console.error('Reekolect: the companion could not start, calls stay queued:', error && error.message || error);
    });
})();

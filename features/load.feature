@load
Feature: Many customers chat at the same time
  When many customers chat with the assistant at the same time, every one of them still gets a
  complete answer and sees the first words quickly (hears the first sounds quickly, when answers
  are read aloud), and every conversation keeps the same promises as a single one. Not part of a
  plain run: run it with --tags=@load.
  The numbers below are the product's targets; a team may change them for a run with settings
  (load_customers, load_percentile, load_first_text_ms, load_first_audio_ms) without editing this file.

  @load_text
  Scenario: 200 customers chat at the same time
    Given 200 customers chat at the same time
    Then every answer arrives complete
    And 95% of them see the first words within 800 ms
    And every conversation keeps the protocol

  @load_speech
  Scenario: 50 customers hear their answers read aloud at the same time
    Given 50 customers chat at the same time and hear the answers read aloud
    Then every answer arrives complete
    And 95% of them see the first words within 800 ms
    And 95% of them hear the first sounds within 2000 ms
    And every conversation keeps the protocol

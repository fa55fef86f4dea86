@session
Feature: Conversations are remembered
  Every answer is stored in a chat. Sending the chat's id back continues the same chat,
  on the same connection or a new one, and even after the backend restarts.

  @same_chat
  Scenario: Later questions continue the chat the first answer opened
    Given I am connected to the chat backend
    When I ask a question
    Then the answer tells me the id of the chat it was stored in
    When I ask another question in the same chat
    Then it is stored in the same chat

  @new_connection
  Scenario: A chat continues on a new connection
    Given I have a chat with one answer in it
    When I reconnect and ask another question in that chat
    Then it is stored in the same chat

  @unknown_chat
  Scenario: An unknown chat is reported, and the answer still comes
    Given I am connected to the chat backend
    When I ask a question in a chat that does not exist
    Then the backend says it could not find that chat
    And the answer is complete and not empty

  @requires_restart
  Scenario: Chats survive a restart of the backend
    Given I have a chat with one answer in it
    When the backend restarts
    And I reconnect and ask another question in that chat
    Then it is stored in the same chat
